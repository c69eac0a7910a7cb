"""How much the colours flicker: synthetic MiDaS-like depth clips and figures measured on them.

The figures are ground-truth free (what a viewer sees change), but they are measured on
synthetic depth, not on the network: with random weights the network's own output on a
still scene changes by several percent per frame, which no normalisation can hide. The
clips behave like MiDaS on video instead: one smooth scene of a few surfaces, seen through a
per-frame scale and shift that jitter, with spatially smooth noise and a small near object
that walks in, comes closer and leaves (it moves the per-frame maximum, which is what makes
a min-max display re-colour the whole background).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from stream.core.staging import writing
from stream.view.normalize import RANGE_PERCENTILES, Fixed, Normaliser
from stream.view.render import colour_index, index_grey


@dataclass(frozen=True)
class Clip:
    """How a synthetic clip is made; ``cut_at``: the frame where a different scene starts."""

    frames: int = 120
    width: int = 640
    height: int = 480
    seed: int = 0
    scale_jitter: float = 0.05  # relative, per frame
    shift_jitter: float = 0.03  # of the scene's range, per frame
    noise: float = 0.005  # of the scene's range, smooth over ~8 pixels
    object_jitter: float = 0.15  # relative, per frame, of the near object's depth alone
    cut_at: int | None = None


def depth_field(width: int, height: int, seed: int) -> np.ndarray:
    """A still scene as inverse depth (larger = nearer, MiDaS-like units): floor, back wall, a few boxes."""
    rng = np.random.default_rng(seed)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    horizon = height * rng.uniform(0.35, 0.55)
    field = np.where(ys > horizon, 200.0 + 900.0 * (ys - horizon) / (height - horizon), 200.0).astype(np.float32)
    field += 60.0 * np.float32(rng.uniform(-1, 1)) * xs / width  # the wall is not square to the camera
    for _ in range(int(rng.integers(2, 5))):
        x0, y0 = rng.uniform(0, 0.8) * width, rng.uniform(0.1, 0.7) * height
        w, h = rng.uniform(0.1, 0.3) * width, rng.uniform(0.15, 0.35) * height
        near = rng.uniform(300.0, 900.0)
        tilt = rng.uniform(-150.0, 150.0)
        box = (xs >= x0) & (xs < x0 + w) & (ys >= y0) & (ys < y0 + h)
        field = np.where(box, near + tilt * (xs - x0) / w, field).astype(np.float32)
    return cv2.GaussianBlur(field, (0, 0), sigmaX=max(1.0, width / 160))


def near_object(field: np.ndarray, t: float, wobble: float = 1.0) -> tuple[np.ndarray, float] | None:
    """Where the walking object is at clip time ``t`` (0..1): its mask and inverse depth, or None when out of view.

    ``wobble`` scales its depth: MiDaS is least consistent from frame to frame on small near things.
    """
    if not 0.15 <= t <= 0.85:
        return None
    height, width = field.shape
    u = (t - 0.15) / 0.7  # 0..1 while in view
    radius = 0.06 * min(width, height)
    cx = -radius + u * (width + 2 * radius)
    cy = 0.6 * height
    ys, xs = np.ogrid[0:height, 0:width]
    mask = (xs - cx) ** 2 + (ys - cy) ** 2 <= radius**2
    closeness = 1.2 + 0.8 * np.sin(np.pi * u)  # comes closer mid-way, then walks off
    return mask, float(field.max()) * closeness * wobble


def clip_frames(clip: Clip, jitter: bool = True) -> list[np.ndarray]:
    """The clip's depth frames (float32): jittered scale and shift, smooth noise, the near object.

    ``jitter=False``: the same frames without the per-frame scale and shift (the truth a
    normaliser tries to recover).
    """
    rng = np.random.default_rng(clip.seed + 1000)
    scenes = [depth_field(clip.width, clip.height, clip.seed), depth_field(clip.width, clip.height, clip.seed + 1)]
    small = (max(1, clip.width // 8), max(1, clip.height // 8))
    frames = []
    for i in range(clip.frames):
        field = scenes[1] if clip.cut_at is not None and i >= clip.cut_at else scenes[0]
        span = float(np.ptp(field))
        depth = field.copy()
        wobble = float(np.exp(rng.normal(0.0, clip.object_jitter)))
        placed = near_object(field, i / max(1, clip.frames - 1), wobble)
        if placed is not None:
            depth[placed[0]] = placed[1]
        noise = cv2.resize(rng.normal(0.0, clip.noise * span, small[::-1]).astype(np.float32), (clip.width, clip.height),
                           interpolation=cv2.INTER_CUBIC)
        scale = float(np.exp(rng.normal(0.0, clip.scale_jitter)))
        shift = float(rng.normal(0.0, clip.shift_jitter * span))
        frames.append((scale * (depth + noise) + shift if jitter else depth + noise).astype(np.float32))
    return frames


def displayed(normaliser: Normaliser, frames: list[np.ndarray]) -> list[np.ndarray]:
    """The 0..255 depth index a viewer sees for each frame (as ``render.colour_index`` quantises it)."""
    return [index_grey(normaliser(depth).index) for depth in frames]


def changes(shown: list[np.ndarray]) -> list[float]:
    """Mean |change| of the 0..255 index from each frame to the next."""
    return [float(np.mean(cv2.absdiff(a, b))) for a, b in zip(shown, shown[1:], strict=False)]


def flicker(normaliser: Normaliser, frames: list[np.ndarray]) -> float:
    """Mean absolute frame-to-frame change of the displayed 0..255 index over the clip."""
    return float(np.mean(changes(displayed(normaliser, frames))))


def recovery_frames(make: Callable[[], Normaliser], frames: list[np.ndarray], cut_at: int, tolerance: float = 2.0) -> int:
    """Frames after a cut shown differently from a run that started at the new scene.

    A frame counts as recovered when its mean |difference| from that fresh run is at most
    ``tolerance`` levels of 255; the figure is how many frames from the cut on are not, up
    to the last one that is not.
    """
    through = displayed(make(), frames)[cut_at:]
    fresh = displayed(make(), frames[cut_at:])
    off = [k for k, (a, b) in enumerate(zip(through, fresh, strict=True)) if float(np.mean(cv2.absdiff(a, b))) > tolerance]
    return off[-1] + 1 if off else 0


def flicker_figures(make: Callable[[str], Normaliser], clip: Clip = Clip()) -> dict[str, float]:
    """``frame`` and ``stable`` flicker on the still clip, their ratio, and ``stable``'s recovery from a cut.

    ``floor``: the clip's own change (noise, the object moving), as shown with the true
    scale and shift removed and the scene's range fixed: no normaliser can go below it.
    """
    frames = clip_frames(clip)
    per_frame, stable = flicker(make("frame"), frames), flicker(make("stable"), frames)
    scene = depth_field(clip.width, clip.height, clip.seed)
    floor = flicker(Fixed(*np.percentile(scene, RANGE_PERCENTILES)), clip_frames(clip, jitter=False))
    cut_at = clip.frames // 2
    cut = clip_frames(Clip(**{**clip.__dict__, "cut_at": cut_at}))
    return {
        "frame": per_frame,
        "stable": stable,
        "ratio": stable / per_frame if per_frame > 0 else float("nan"),
        "recovery_frames": recovery_frames(lambda: make("stable"), cut, cut_at),
        "floor": floor,
    }


def flicker_picture(path: Path, make: Callable[[str], Normaliser], clip: Clip = Clip(), columns: int = 6) -> Path:
    """A strip of frames across the still clip: top ``frame`` (min-max), bottom ``stable``, Inferno."""
    frames = clip_frames(clip)
    picks = np.linspace(0, clip.frames - 1, columns + 2).round().astype(int)[1:-1]
    tile = (160, 160 * clip.height // clip.width)
    rows = []
    for kind in ("frame", "stable"):
        shown = displayed(make(kind), frames)
        tiles = [cv2.resize(colour_index(shown[i].astype(np.float32) / 255.0), tile, interpolation=cv2.INTER_AREA)
                 for i in picks]
        for i, picture in zip(picks, tiles, strict=True):
            cv2.putText(picture, f"{kind} #{i}", (4, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 255, 255), 1, cv2.LINE_AA)
        rows.append(np.hstack(tiles))
    path.parent.mkdir(parents=True, exist_ok=True)
    with writing(path) as partial:
        if not cv2.imwrite(str(partial), np.vstack(rows), [cv2.IMWRITE_PNG_COMPRESSION, 9]):
            raise OSError(f"cannot write {path}")
    return path
