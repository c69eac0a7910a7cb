"""Run shapes: how many engines infer at once and with how many threads each, and how one is timed.

Live mode runs one engine with every thread (the newest frame soonest); file mode and the
batch run one single-threaded engine per core (throughput). An engine's speed in one shape
says little about the other: OpenVINO fp32 was 1.2x ONNX Runtime fp32 as one 2-thread
engine on an AVX2 CPU but 0.6x as two 1-thread engines side by side. So ``auto`` measures
the shape it will build, and a shape is timed the way it runs: all copies predicting at
once, frames per second of all together.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import numpy as np

from stream.engines.base import BaseEstimator

T = TypeVar("T")
MAX_AUTO_STREAMS = 4
JOIN_SECONDS = 30.0


@dataclass(frozen=True)
class RunShape:
    """``copies`` engines of ``threads`` threads each (0 = the engine's default)."""

    copies: int = 1
    threads: int = 0

    @property
    def name(self) -> str:
        return "live" if self.copies == 1 else "file"

    def describe(self) -> str:
        each = f"{self.threads} thread{'s' if self.threads != 1 else ''}" if self.threads else "default threads"
        if self.copies == 1:
            return f"live: one engine x {each}"
        return f"file: {self.copies} engines at once x {each}"


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def file_shape(threads: int, streams: int = 0, cores: int | None = None) -> RunShape:
    """File mode's shape: one engine per core (at most ``MAX_AUTO_STREAMS``), the threads split between them.

    ``streams`` (``model.streams``) and ``threads`` (``model.threads``) override the split;
    one stream is the live shape with every thread.
    """
    cores = cores or usable_cores()
    copies = streams or max(1, min(cores, MAX_AUTO_STREAMS))
    if copies == 1:
        return RunShape(1, threads)
    return RunShape(copies, max(1, (threads or cores) // copies))


def on_own_thread(work: Callable[[], T]) -> T:
    """``work()`` on a thread of its own that ends with it; its result, or its exception raised here.

    Measuring builds engines, runs them on the measuring thread and frees them. OpenVINO
    gives each thread that runs an engine an alternate signal stack and, when engines are
    freed, puts back one it had found, which can belong to an engine already freed: the
    thread is left on freed memory, and a Ctrl-C delivered to it later is a segfault
    (the main thread, where the signal lands, crashed a recording at exit 139). A thread
    that ends with the measurement takes that state with it.
    """
    box: list[T] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            box.append(work())
        except BaseException as exc:  # noqa: BLE001 - raised again on the caller's thread
            errors.append(exc)

    thread = threading.Thread(target=run, name="depth-measure", daemon=True)
    thread.start()
    thread.join()
    if errors:
        raise errors[0]
    return box[0]


def time_copies(copies: list[BaseEstimator], frames: list[np.ndarray], budget: float) -> float:
    """Wall seconds per frame of all ``copies`` predicting at once for about ``budget`` seconds (1 / throughput).

    One copy is timed on this thread; several each get a thread, as file mode runs them
    (each after one warm-up call, so a first call's set-up is not counted).
    """
    for copy in copies:
        copy.predict(frames[0])
    counts = [0] * len(copies)
    stop = threading.Event()
    errors: list[Exception] = []

    def step(index: int) -> None:
        copies[index].predict(frames[(counts[index] + index) % len(frames)])
        counts[index] += 1

    def work(index: int) -> None:
        try:
            while not stop.is_set():
                step(index)
        except Exception as exc:  # noqa: BLE001 - kept and raised on the measuring thread
            errors.append(exc)
            stop.set()

    start = time.perf_counter()
    if len(copies) == 1:
        while not counts[0] or time.perf_counter() - start < budget:
            step(0)
    else:
        workers = [threading.Thread(target=work, args=(i,), name=f"depth-measure-{i}", daemon=True)
                   for i in range(len(copies))]
        for worker in workers:
            worker.start()
        stop.wait(budget)
        stop.set()
        for worker in workers:
            worker.join(JOIN_SECONDS)
        if errors:
            raise errors[0]
    return (time.perf_counter() - start) / max(1, sum(counts))
