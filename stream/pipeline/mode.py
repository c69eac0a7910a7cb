"""Live or file: decided once per run, from the source and ``mode``, into one object.

*Live* means the newest frame wins: one-slot channels, stale frames dropped and counted,
so latency stays bounded however slow inference is. *File* means every frame, in order,
through bounded FIFOs whose writers wait. Which one a run gets is a named choice made
here, not a flag each stage reinterprets (after roboflow/inference's WAIT / DROP_OLDEST).

Reconnecting is not part of the mode: a live network stream always reconnects and a file
never does, whatever the mode, because that follows from what the source *is*.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Mode(str, enum.Enum):
    AUTO = "auto"
    LIVE = "live"
    FILE = "file"


@dataclass(frozen=True)
class RunPolicy:
    """What the pipeline and the app read: drop stale frames? pace a recorded source?"""

    live: bool
    paced: bool

    @property
    def name(self) -> str:
        return "live" if self.live else "file"


def decide(mode: Mode | str, source_is_live: bool) -> RunPolicy:
    """The run's policy for a source that is (camera, network stream) or is not live.

    ``auto``: live sources live, recorded ones (files, HTTP files, image sequences, the
    synthetic scene) every frame. ``live``: everything live; a recorded source is played at
    its own frame rate, like a camera. ``file``: every frame of everything, nothing dropped
    (a live source then waits for inference, and its own driver or server drops instead).
    """
    mode = Mode(mode)
    if mode is Mode.LIVE:
        return RunPolicy(live=True, paced=not source_is_live)
    if mode is Mode.FILE:
        return RunPolicy(live=False, paced=False)
    return RunPolicy(live=source_is_live, paced=False)
