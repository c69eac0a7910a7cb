"""Calibration frames from the user's own footage for ``python -m stream.model quantize --calibration VIDEO``.

Here, not in ``stream.engines.quantize``: reading a video needs the sources, and the engines
sit beside the sources, not above them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from stream.core.errors import ModelError


def video_frames(path: Path, count: int) -> list[np.ndarray]:
    """``count`` frames spread over a video file, for calibrating on the user's own footage."""
    from stream.sources import open_source

    with open_source(str(path)) as source:
        total = source.info.frame_count
        step = max(1, total // count) if total else 1  # keep only what is used: a long video must not fill memory
        frames = []
        index = 0
        while (frame := source.read()) is not None:
            if index % step == 0:
                frames.append(frame.image)
            index += 1
    if not frames:
        raise ModelError(f"{path} gave no frames to calibrate on; pass another --calibration video")
    step = max(1, len(frames) // count)
    return frames[::step][:count]
