"""The browser page (``--serve``): the live view, its controls, and the browser's own webcam as a source.

``server`` builds the aiohttp application and runs it in a ``depth-web`` thread beside the
pipeline's threads; ``relay`` hands every viewer the newest composed frame (encoded once);
``live`` holds what the page reads and changes while the run goes on; ``camera`` is the
source fed by the page's webcam. The pipeline itself knows nothing of any of it: the relay
is a sink, the probe readings a depth sink, the controls a ``stream.view.settings.ViewSettings``.
"""
