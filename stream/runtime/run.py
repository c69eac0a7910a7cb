"""``run(settings)``: one run of the app, whatever the frontend (a window, the page, none).

The command line, the web page's uploads, a batch actor and ``stream.DepthStream``'s
callers all come through here or through ``stream.runtime.single``. "Cancelled" and
"finished" stay apart: when the source finishes, the frontend may go on (the page keeps
its last frame and its uploads) until the caller or a signal cancels.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from contextlib import ExitStack

from stream.config.settings import Settings
from stream.core.protocols import Estimator
from stream.pipeline.stats import PipelineStats
from stream.runtime import estimators
from stream.runtime.frontend import Frontend
from stream.runtime.photos import is_image_batch, run_photo_folder
from stream.runtime.result import RunResult
from stream.runtime.signals import SIGNAL_EXIT_CODES, StopOnSignal
from stream.runtime.single import check_before_work, run_source


def run(settings: Settings, estimator: Estimator | None = None, cancel: threading.Event | None = None, *,
        frontend: Frontend | None = None, on_frame: Callable[[PipelineStats], None] | None = None) -> RunResult:
    """Run the app once. ``estimator`` may be given (tests, a loaded model); otherwise it is made.

    ``cancel`` stops the run when set (Ctrl-C and SIGTERM set it on the main thread);
    ``on_frame`` is called after each frame is written (the page's video jobs report progress with it).
    """
    frontend = frontend or Frontend()
    cancel = cancel or threading.Event()
    folder = is_image_batch(settings)
    if not folder:
        check_before_work(settings)  # before the frontend claims a port or a window
    with ExitStack() as stack:
        frontend.open(settings, stack, cancel, lambda: estimators.make_estimator(settings))
        if folder:
            result = run_photo_folder(settings, frontend, estimator, cancel)
        else:
            result = run_source(settings, frontend, estimator, cancel, on_frame, checked=True)
        if result.finished:  # not cancelled: the frontend may outlive its source (the page lingers)
            with StopOnSignal(cancel) as signals:
                frontend.after_source(cancel)
            if signals.received is not None:
                result.interrupted_by = signals.received
                result.exit_code = SIGNAL_EXIT_CODES[signals.received]
        return result
