"""Was the machine busy while the engines were measured? Other processes' CPU time on our cores.

A measurement taken while something else (a build, a CI run, a video call) takes CPU is
not a fact about this machine, and a cached decision lives for good: a busy one is used for
that run only. "Busy" is the CPU time the cores this process may run on spent outside this
process, per second of wall time: /proc/stat's busy jiffies of those cores minus our own
CPU time (``os.times``, every thread). Where /proc/stat is missing (not Linux) nothing can
be told, and the machine counts as quiet, as before.

A meter is a function that starts watching and returns a function that, when called, says
how many cores' worth of CPU others used on average since: ``stop = meter(); ...; stop()``.
Tests pass their own.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

BusyMeter = Callable[[], Callable[[], float]]
BUSY_CORES = 0.25  # others using more than a quarter of a core on average: the figures are not this machine's
BUSY_FIELDS = (0, 1, 2, 5, 6, 7)  # user, nice, system, irq, softirq, steal (guest time is inside user)


def our_cores() -> set[int] | None:
    try:
        return set(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return None


def busy_seconds(stat: str, cores: set[int] | None) -> float | None:
    """Busy CPU seconds of ``cores`` (all when None) from /proc/stat's text; None when it has no such lines."""
    tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    total, found = 0, False
    for line in stat.splitlines():
        name, *values = line.split()
        if not name.startswith("cpu") or name == "cpu" or not name[3:].isdigit():
            continue
        if cores is not None and int(name[3:]) not in cores:
            continue
        numbers = [int(v) for v in values]
        total += sum(numbers[i] for i in BUSY_FIELDS if i < len(numbers))
        found = True
    return total / tick if found else None


def own_seconds() -> float:
    times = os.times()
    return times.user + times.system


def others_cpu(stat_file: Path = Path("/proc/stat")) -> Callable[[], float]:
    """Start watching; the returned function gives others' mean cores since then (0.0 where it cannot tell)."""
    cores = our_cores()

    def read() -> float | None:
        try:
            return busy_seconds(stat_file.read_text(), cores)
        except (OSError, ValueError):
            return None

    busy_start, own_start, wall_start = read(), own_seconds(), time.monotonic()

    def stop() -> float:
        busy_end, own_end, wall = read(), own_seconds(), time.monotonic() - wall_start
        if busy_start is None or busy_end is None or wall <= 0:
            return 0.0
        return max(0.0, (busy_end - busy_start) - (own_end - own_start)) / wall

    return stop


def never_busy() -> Callable[[], float]:
    """A meter that always says quiet (for callers that must cache whatever they measured)."""
    return lambda: 0.0
