"""16-bit depth values and the sidecar that maps them back to the model's raw depth.

A 16-bit file stores the normalised index (0..1, 1 = near) as ``v = round(index * 65535)``;
the sidecar ``PATH.json`` keeps, per frame, the mapping the normaliser used (``lo``, ``hi``,
``scale``, ``shift``) with the frame's number and timestamp, so

    raw = (lo + v / 65535 * (hi - lo) - shift) / scale

gives the model's values back (exactly inside [lo, hi], to 1/65535 of the range).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from stream.core.frames import DepthFrame, Normalised

LEVELS = 65535
RECOVER = "raw = (lo + v / 65535 * (hi - lo) - shift) / scale"


def to_uint16(index: np.ndarray) -> np.ndarray:
    """The 0..1 index as 16-bit values (0 = far end of the range, 65535 = near end)."""
    return np.rint(np.clip(index, 0.0, 1.0) * LEVELS).astype(np.uint16)


def frame_entry(item: DepthFrame, normalised: Normalised, **extra: Any) -> dict[str, Any]:
    """One frame's line in the sidecar: which frame, when, and its mapping back to raw values."""
    frame = item.frame
    return {
        "frame": frame.index,
        "pts": frame.pts,
        "time_base": None if frame.time_base is None else str(frame.time_base),
        "seconds": frame.seconds,
        **extra,
        **{key: float(value) for key, value in normalised.sidecar().items()},
    }


def sidecar_path(path: Path, folder: bool = False) -> Path:
    """``depth.mkv`` -> ``depth.mkv.json``; a folder of PNGs keeps its sidecar inside: ``DIR/depth.json``."""
    return Path(path) / "depth.json" if folder else Path(f"{path}.json")


def sidecar_text(entries: list[dict[str, Any]], storage: str) -> str:
    """The sidecar's JSON: how values are stored, how to recover them, one entry per frame."""
    document = {"stored": storage, "recover": RECOVER, "frames": entries}
    return json.dumps(document, indent=1) + "\n"
