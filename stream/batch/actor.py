"""The Ray worker: one model per actor, loaded once, then one input file per call through the single run.

A file is processed by exactly the code a single run uses (``stream.runtime.run.run`` with the
job's settings), so an output is the same made alone or in a batch. The model is made in
``__init__`` through ``make_estimator``, the app's own path, and kept for every later file:
loading it costs more than a short clip. The actor is threaded (two calls at once) so the
driver can ask how far the current file is while it runs.
"""

from __future__ import annotations

import platform
import re
import threading
import time
from pathlib import Path

import numpy as np

from stream.batch.jobs import Job, settings_for
from stream.batch.partial import commit, discard
from stream.batch.summary import FileResult
from stream.config.settings import Settings
from stream.core.errors import DepthStreamError, StageError
from stream.core.modelinfo import ModelInfo, model_info_of
from stream.core.protocols import DepthResult, Estimator


class CountingEstimator:
    """An estimator that counts the frames it has done: the progress of the file in hand."""

    def __init__(self, inner: Estimator) -> None:
        self.inner = inner
        self.count = 0

    @property
    def info(self) -> ModelInfo:
        """The wrapped model's (metres or relative): the batch's depth files must say what they hold."""
        return model_info_of(self.inner)

    def estimate(self, image: np.ndarray) -> DepthResult:
        result = self.inner.estimate(image)
        self.count += 1
        return result


STAGE_WORDS = {"capture": "reading it", "inference": "the depth model", "output": "writing its outputs"}
# the single run's fixes name its flags ("check --source", "choose another --output"); in a batch the file is the input
SINGLE_RUN_FIX = re.compile(r";[^;]*--(source|output)\b(?!-)[^;]*$")


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else ""


def one_line(exc: BaseException, job: Job) -> str:
    """A failure as the summary shows it: the file and its problem, in the batch's words.

    The single run says which stage failed ("capture stage: ...") and ends with a fix naming
    its ``--source``; here the stage is left out when the error already says what is wrong,
    and that fix is dropped (the file is the input): the text names the file, once."""
    if isinstance(exc, StageError) and not isinstance(exc.cause, DepthStreamError):
        text = f"{STAGE_WORDS.get(exc.stage, exc.stage)} failed: {type(exc.cause).__name__}: {first_line(exc.cause)}"
    elif isinstance(exc, StageError):
        text = first_line(exc.cause)
    else:
        text = first_line(exc) if isinstance(exc, DepthStreamError) else f"{type(exc).__name__}: {first_line(exc)}"
    text = SINGLE_RUN_FIX.sub("", text.rstrip(": "))
    return text if str(job.input) in text or job.key in text else f"{job.key}: {text}"


def where() -> tuple[str, str | None]:
    """(host name, Ray node id shortened to 8 hex digits): two raylets on one host share the name, not the id.
    Outside Ray (the class called directly) there is no node id, and asking for one would start Ray."""
    import ray

    return platform.node(), ray.get_runtime_context().get_node_id()[:8] if ray.is_initialized() else None


def process_file(settings: Settings, job: Job, workdir: Path, estimator: Estimator, node: tuple[str, str | None]) -> FileResult:
    """Run one job in ``workdir`` and rename its outputs to their final names; a failure is returned, never raised.
    ``node`` is (host, node id) of the worker doing it."""
    from stream.runtime.run import run

    host, node_id = node
    start = time.monotonic()
    try:
        workdir.mkdir(parents=True)
        result = run(settings_for(settings, job, workdir), estimator)
        if result.exit_code != 0:
            raise RuntimeError(f"the run ended with exit code {result.exit_code}")
        outputs = commit(workdir, job.output.parent)
    except Exception as exc:  # noqa: BLE001 - one bad file never stops the batch: it is reported by name
        discard(workdir)
        return FileResult(job.key, "failed", error=one_line(exc, job), seconds=time.monotonic() - start,
                          node=host, node_id=node_id)
    return FileResult(job.key, "done", frames=result.stats.displayed, seconds=time.monotonic() - start,
                      outputs=[str(path) for path in outputs], node=host, node_id=node_id)


class DepthWorker:
    """Ray actor body (made remote by the driver with its CPUs): the model in hand, one file per ``process`` call."""

    def __init__(self, settings: Settings) -> None:
        from stream.runtime.estimators import make_estimator

        self.settings = settings
        self.node = where()
        self.error: tuple[str, int] | None = None
        self.estimator: CountingEstimator | None = None
        self._lock = threading.Lock()
        self._current: tuple[str, int] | None = None  # (job key, estimator count when it started)
        try:
            self.estimator = CountingEstimator(make_estimator(settings, at_once=settings.model.streams or 1))
        except DepthStreamError as exc:
            self.error = (str(exc), exc.exit_code)

    def ready(self) -> tuple[tuple[str, str | None], str | None, int]:
        """((host, node id), error, exit code): where the actor is and whether the model loaded there."""
        message, code = self.error if self.error is not None else (None, 0)
        return self.node, message, code

    def process(self, job: Job, workdir: Path) -> FileResult:
        if self.estimator is None:
            message = self.error[0] if self.error is not None else "the model did not load"
            return FileResult(job.key, "failed", error=message, node=self.node[0], node_id=self.node[1])
        with self._lock:
            self._current = (job.key, self.estimator.count)
        try:
            return process_file(self.settings, job, workdir, self.estimator, self.node)
        finally:
            with self._lock:
                self._current = None

    def progress(self) -> tuple[str, int] | None:
        """(job key, frames done so far) of the file in hand, or None between files."""
        with self._lock:
            if self._current is None or self.estimator is None:
                return None
            key, start = self._current
            return key, self.estimator.count - start
