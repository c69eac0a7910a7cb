"""16-bit depth values and the sidecar that says what they mean.

Relative depth (MiDaS) has no unit, so a 16-bit file stores the normalised index (0..1,
1 = near) as ``v = round(index * 65535)``; the sidecar ``PATH.json`` keeps, per frame, the
mapping the normaliser used (``lo``, ``hi``, ``scale``, ``shift``) with the frame's number and
timestamp, so

    raw = (lo + v / 65535 * (hi - lo) - shift) / scale

gives the model's values back (exactly inside [lo, hi], to 1/65535 of the range).

Metric depth is stored as depth cameras store it (RealSense, Kinect, ROS ``16UC1``): ``v`` is
millimetres, ``metres = v / 1000``, 0 = no depth. 16 bits end at 65535 mm = 65.535 m; an
outdoor model reaches 80 m, so anything from 65.535 m on saturates at 65535 and each frame's
sidecar entry counts those pixels (``saturated``); the ``.npy``/``.npz``/``.pfm`` files keep
every distance in float32 metres. The sidecar names the model and the unit (``mm``, or
``relative``); a metric raw file gets one too (``unit``: ``m``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from stream.core.frames import DepthFrame, Normalised
from stream.core.modelinfo import MIDAS_SMALL, ModelInfo

LEVELS = 65535
RECOVER = "raw = (lo + v / 65535 * (hi - lo) - shift) / scale"
MM_RECOVER = "metres = v / 1000 (v = 0: no depth; v = 65535: 65.535 m or farther)"
MM_PER_METRE = 1000.0


def to_uint16(index: np.ndarray) -> np.ndarray:
    """The 0..1 index as 16-bit values (0 = far end of the range, 65535 = near end)."""
    return np.rint(np.clip(index, 0.0, 1.0) * LEVELS).astype(np.uint16)


def to_millimetres(metres: np.ndarray) -> tuple[np.ndarray, int]:
    """Metres as uint16 millimetres (0 = no depth: NaN, infinite or not positive; at least 1 otherwise;
    65535 from 65.535 m on), and how many pixels saturated at 65535.

    In float64, where ``float32 x 1000`` is exact, so ``v == round(metres * 1000)`` holds to the last millimetre.
    """
    d = np.asarray(metres, np.float64)
    valid = np.isfinite(d) & (d > 0)
    mm = np.rint(np.where(valid, d, 0.0) * MM_PER_METRE)
    saturated = int(np.count_nonzero(mm > LEVELS))
    return np.where(valid, np.clip(mm, 1, LEVELS), 0).astype(np.uint16), saturated


def uint16_depth(item: DepthFrame, normalised: Normalised, **extra: Any) -> tuple[np.ndarray, dict[str, Any]]:
    """A frame's 16-bit values and its sidecar entry: millimetres for a metric model (saturated pixels
    counted), else the normalised index with its mapping back. Every 16-bit writer stores these."""
    if item.model.is_metric:
        values, saturated = to_millimetres(item.depth)
        return values, frame_entry(item, normalised, **extra, saturated=saturated)
    return to_uint16(normalised.index), frame_entry(item, normalised, **extra)


def values_text(model: ModelInfo) -> str:
    """How ``v`` is made, for the sidecar's ``stored``."""
    if model.is_metric:
        return "v = round(metres * 1000), millimetres (0 = no depth, 65535 = 65.535 m or farther)"
    return "v = round(index * 65535)"


def frame_entry(item: DepthFrame, normalised: Normalised, **extra: Any) -> dict[str, Any]:
    """One frame's line in the sidecar: which frame, when, and (relative depth) its mapping back to raw values."""
    frame = item.frame
    entry = {
        "frame": frame.index,
        "pts": frame.pts,
        "time_base": None if frame.time_base is None else str(frame.time_base),
        "seconds": frame.seconds,
        **extra,
    }
    if not item.model.is_metric:  # millimetres need no mapping back
        entry.update({key: float(value) for key, value in normalised.sidecar().items()})
    return entry


def sidecar_path(path: Path, folder: bool = False) -> Path:
    """``depth.mkv`` -> ``depth.mkv.json``; a folder of PNGs keeps its sidecar inside: ``DIR/depth.json``."""
    return Path(path) / "depth.json" if folder else Path(f"{path}.json")


def sidecar_text(entries: list[dict[str, Any]], storage: str, model: ModelInfo = MIDAS_SMALL) -> str:
    """A 16-bit file's sidecar: the model, the unit, how values are stored and recovered, one entry per frame."""
    if model.is_metric:
        document: dict[str, Any] = {"model": model.name, "output": model.output, "unit": "mm", "max_depth_m": model.max_depth,
                                    "stored": storage, "recover": MM_RECOVER, "frames": entries}
    else:
        document = {"model": model.name, "unit": model.unit, "stored": storage, "recover": RECOVER, "frames": entries}
    return json.dumps(document, indent=1) + "\n"


def raw_sidecar_text(model: ModelInfo, storage: str) -> str:
    """A metric raw file's sidecar (``.npy``, ``.pfm``, ``.npz``): which model, and that its float32 values are metres."""
    document = {"model": model.name, "output": model.output, "unit": "m", "max_depth_m": model.max_depth,
                "stored": f"{storage}: depth in metres from the camera (larger = farther)"}
    return json.dumps(document, indent=1) + "\n"
