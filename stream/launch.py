"""The ``depth-stream`` command: the one place that knows every frontend and picks one.

``depth-stream batch ...`` goes to the batch frontend; otherwise the run gets the web page
(``--serve``), a window (the default), or nothing (``--headless``). The frontends never
import each other; this thin top layer composes them (``run_stream.py`` calls ``main``).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from stream.cli.main import main as run_main
from stream.config.settings import Settings
from stream.runtime.frontend import Frontend


def frontend_for(settings: Settings) -> Frontend:
    """The page when serving (a server has no screen), a window unless headless, else none."""
    if settings.serve.address is not None:
        from stream.web.frontend import WebFrontend  # aiohttp is loaded only when serving

        return WebFrontend()
    if not settings.headless:
        from stream.gui.frontend import WindowFrontend

        return WindowFrontend()
    return Frontend()


def main(argv: Sequence[str] | None = None) -> int:
    words = sys.argv[1:] if argv is None else list(argv)
    if words[:1] == ["batch"]:  # `depth-stream batch INPUTS... --output-dir DIR`: many files on Ray
        from stream.batch.cli import main as batch_main

        return batch_main(words[1:])
    return run_main(words, frontend_for)
