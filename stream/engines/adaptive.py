"""``model.net_size: auto``: the largest network input at which live mode holds ``display.target_fps`` on this CPU.

Depth detail grows with the network input and so does its cost (about with its area), so a
slow CPU gets real time from a smaller input, a fast one more detail. The candidates are
the model's own sizes: multiples of its input ``multiple`` (32 for MiDaS, 14 for a ViT's
patches), from its ``trained_size`` (never above: a network sees nothing new beyond the
size it was trained at, and costs more) down to a quarter of it (``smallest_size``). The
cost is monotone in the size, so a binary search times only a handful of them (3 for MiDaS,
5 for Depth Anything), each with the engine ``auto`` chose, as live mode runs it: one
engine with every thread, on frames of the source's own size (its aspect decides the input).

The model alone must run ``HEADROOM`` times faster than the target: the live pipeline's
capture, colouring and display share the same cores (its depth fps was 0.85x the
model-alone fps on 2 cores in the benchmark, README "Figures per CPU class").

The decision is cached beside the engine decision (same key: model bytes, CPU, library
versions, engine, threads; plus the target and the input aspect), is forgotten with it
(``python -m stream.model engines --remeasure``), and is not cached when the machine was
busy while measuring (``stream.engines.busy``), like the engine decision.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from stream.core.modelinfo import ModelInfo
from stream.engines.base import BaseEstimator, network_size
from stream.engines.busy import BUSY_CORES, BusyMeter, others_cpu
from stream.engines.shape import on_own_thread, time_copies

log = logging.getLogger("stream")
HEADROOM = 1.25  # the model alone must run this much faster than the target for the live pipeline to hold it
BUDGET = 0.6  # seconds each size is timed
TimeAt = Callable[[int], float]  # long-side bound -> seconds per frame


@dataclass
class SizeChoice:
    """The size picked for live mode and the figures behind it (what the start-up line says)."""

    net_size: int  # the long-side bound (``model.net_size``) the engine is built with
    input: tuple[int, int]  # the network input (width, height) for the source's frames
    fps: float  # the model alone at that size, frames per second
    target_fps: float
    default_size: int  # the model's own ``net_size``: what a fixed setting would have run
    default_input: tuple[int, int]
    default_fps: float | None = None  # measured, or None when the search never timed it
    measured: dict[str, float] = field(default_factory=dict)  # str(size) -> fps, every size timed
    busy: float | None = None  # others' cores while measuring, when too busy to cache

    @property
    def holds(self) -> bool:
        return self.fps >= self.target_fps * HEADROOM

    def line(self) -> str:
        """One start-up line: the size, what it buys, and what the model's default size would give."""
        size = "{}x{}".format(*self.input)
        default = "{}x{}".format(*self.default_input)
        if not self.holds:
            return (f"network {size}, the smallest tried, runs {self.fps:.0f} fps on this CPU: below the "
                    f"{self.target_fps:g} fps target; lower display.target_fps or choose a lighter model")
        line = f"network {size} to hold {self.target_fps:g} fps on this CPU (the model alone runs {self.fps:.0f} fps)"
        if self.net_size < self.default_size and self.default_fps is not None:
            line += f"; {default} gives {self.default_fps:.0f} fps"
        elif self.net_size > self.default_size:
            line += f"; above the default {default}"
        if self.busy is not None:
            line += (f"; the machine was busy while measuring (others used {self.busy:.1f} cores): "
                     "for this run only, measuring again next time")
        return line


def candidate_sizes(info: ModelInfo) -> list[int]:
    """Every size the search may pick, smallest first: multiples of the input multiple up to the trained size."""
    top = max(info.multiple, info.trained_size // info.multiple * info.multiple)
    return list(range(smallest_size(info), top + 1, info.multiple))


def smallest_size(info: ModelInfo) -> int:
    """A quarter of the trained size (rounded up to the multiple), at least two multiples: below, depth is a blur."""
    quarter = -(-info.trained_size // 4 // info.multiple) * info.multiple
    top = max(info.multiple, info.trained_size // info.multiple * info.multiple)
    return min(top, max(2 * info.multiple, quarter))


def search(sizes: list[int], time_at: TimeAt, need_fps: float) -> tuple[int, dict[int, float]]:
    """The largest of ``sizes`` (ascending) whose fps reaches ``need_fps``, or the smallest; every fps timed.

    Binary search: the cost only grows with the size, so log2(len(sizes)) timings suffice.
    """
    measured: dict[int, float] = {}

    def fps(size: int) -> float:
        if size not in measured:
            measured[size] = 1.0 / max(time_at(size), 1e-9)
        return measured[size]

    low, high, best = 0, len(sizes) - 1, 0
    while low <= high:
        middle = (low + high) // 2
        if fps(sizes[middle]) >= need_fps:
            best, low = middle, middle + 1
        else:
            high = middle - 1
    fps(sizes[best])
    return sizes[best], measured


def engine_timer(build: Callable[[int], BaseEstimator], frames: list[np.ndarray], budget: float = BUDGET) -> TimeAt:
    """Seconds per frame of an engine built at each size, timed as live mode runs it (one engine, this thread)."""
    def time_at(size: int) -> float:
        return time_copies([build(size)], frames, budget)
    return time_at


def fit_size(info: ModelInfo, target_fps: float, frame_size: tuple[int, int], time_at: TimeAt,
             default_size: int | None = None, busy: BusyMeter | None = None) -> SizeChoice:
    """Measure: the largest candidate size holding ``target_fps`` (with ``HEADROOM``) for frames of ``frame_size``."""
    width, height = frame_size
    default = default_size if default_size is not None else info.net_size
    stop = (busy or others_cpu)()
    size, measured = search(candidate_sizes(info), time_at, target_fps * HEADROOM)
    others = stop()
    choice = SizeChoice(size, network_size(width, height, size, info.multiple), measured[size], target_fps, default,
                        network_size(width, height, default, info.multiple), measured.get(default),
                        {str(k): round(v, 2) for k, v in sorted(measured.items())})
    if choice.default_fps is None and size < default:
        choice.default_fps = 1.0 / max(time_at(default), 1e-9)  # the line says what the default would give
    if others > BUSY_CORES:
        choice.busy = others
    return choice


def size_key(engine_key: dict, target_fps: float, frame_size: tuple[int, int]) -> dict:
    """The engine decision's key plus what only the size depends on: the target and the input's aspect."""
    width, height = frame_size
    ratio = round(width / max(1, height), 3)
    return {**engine_key, "kind": "net_size", "target_fps": float(target_fps), "aspect": ratio, "headroom": HEADROOM}


def size_path(cache_dir: Path, prefix: str, key: dict) -> Path:
    """In the engines folder, under the model's prefix: ``forget`` (``--remeasure``) removes it with the engine decision."""
    name = (f"{prefix}size-{key['threads']}-{key['engine']}-{key['precision']}-"
            f"{key['target_fps']:g}fps-{key['aspect']:g}.json")
    return Path(cache_dir) / "engines" / name


def load_size(path: Path, key: dict) -> SizeChoice | None:
    try:
        data = json.loads(path.read_text())
        if data.get("key") != key:
            return None
        choice = data["choice"]
        return SizeChoice(int(choice["net_size"]), tuple(choice["input"]), float(choice["fps"]),
                          float(choice["target_fps"]), int(choice["default_size"]), tuple(choice["default_input"]),
                          choice.get("default_fps"), dict(choice.get("measured", {})))
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return None


def save_size(path: Path, key: dict, choice: SizeChoice) -> None:
    from stream.core.staging import write_bytes_atomically

    path.parent.mkdir(parents=True, exist_ok=True)
    write_bytes_atomically(path, json.dumps({"key": key, "choice": asdict(choice)}, indent=2).encode())


def decide_size(info: ModelInfo, target_fps: float, frame_size: tuple[int, int], time_at: TimeAt,
                cache: tuple[Path, str, dict] | None = None, busy: BusyMeter | None = None) -> SizeChoice:
    """The cached size for this key, or a new measurement (cached unless the machine was busy).

    ``cache``: (cache folder, the model's decision-file prefix, the engine decision's key).
    """
    path = key = None
    if cache is not None:
        folder, prefix, engine_key = cache
        key = size_key(engine_key, target_fps, frame_size)
        path = size_path(folder, prefix, key)
        cached = load_size(path, key)
        if cached is not None:
            return cached
    log.info("measuring the network size that holds %g fps live (a few seconds, once)", target_fps)
    choice = fit_size(info, target_fps, frame_size, time_at, busy=busy)
    if path is not None and key is not None and choice.busy is None:
        save_size(path, key, choice)
    return choice


def live_engine(model: Path, engine: str, precision: str, threads: int, cache_dir: Path, target_fps: float,
                frame_size: tuple[int, int], budget: float = BUDGET, busy: BusyMeter | None = None) -> BaseEstimator:
    """Live mode's one engine with ``net_size: auto``: the engine ``auto`` picks, at the size that holds the target.

    The engine is decided first, at the model's own size (``engines_for``); the size is then
    searched with that engine. A model with a fixed input size has nothing to choose.
    """
    from stream.engines import make_engine
    from stream.engines.choose import engines_for, fingerprint, model_prefix
    from stream.engines.quantize import varied_frames

    first = engines_for(model, engine, precision, threads, None, cache_dir)[0]
    if first.fixed_size is not None:
        log.info("network %dx%d: the model's input size is fixed, so net_size auto has nothing to choose", *first.fixed_size)
        return first

    def build(size: int) -> BaseEstimator:
        if size == first.net_size:
            return first
        return make_engine(model, first.engine, first.precision, threads, size, cache_dir)

    key = fingerprint(model, first.engine, first.precision, threads, None, first.info)
    frames = varied_frames(3, *frame_size)
    choice = on_own_thread(lambda: decide_size(first.info, target_fps, frame_size, engine_timer(build, frames, budget),
                                               (Path(cache_dir), model_prefix(key), key), busy))
    log.info("%s", choice.line())
    return build(choice.net_size)
