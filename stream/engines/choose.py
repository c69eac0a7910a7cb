"""``auto``: measure each engine x precision once per model, CPU and library versions; reuse the decision.

A candidate is timed on calibration frames for a short budget and its depth compared with
ONNX Runtime fp32 (``depth_diff``: for a relative model the mean absolute difference of
per-frame min-max normalised maps, for a metric model the mean absolute difference in
metres over its ``max_depth``). The fastest within ``TOLERANCE`` wins. The decision and its
figures are cached as JSON in the model cache folder, keyed by everything that could change
the answer (the model's bytes, name and output kind among them); a file that does not match
(other CPU, other versions, other model, corrupt) is ignored and remade.
"""

from __future__ import annotations

import json
import logging
import os
import platform
import re
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from stream.core.errors import ModelError
from stream.core.modelinfo import ModelInfo
from stream.engines import ENGINES, BaseEstimator, check_choice, make_engine
from stream.engines.metadata import read_info

log = logging.getLogger("stream")
TOLERANCE = 0.01
INT8_MARGIN = 1.10  # int8 must be at least this much faster than fp32 of the same engine to be picked
BUDGET = 1.0
Timer = Callable[[BaseEstimator, list[np.ndarray], float], float]


@dataclass
class Row:
    """One candidate's figures: seconds per frame, depth difference vs ORT fp32, or why it could not run."""

    engine: str
    precision: str
    seconds: float | None = None
    diff: float | None = None
    error: str | None = None


@dataclass
class Choice:
    engine: str
    precision: str
    reason: str
    rows: list[Row]


def time_per_frame(estimator: BaseEstimator, frames: list[np.ndarray], budget: float) -> float:
    """Mean wall seconds per ``predict`` over about ``budget`` seconds (after one warm-up call)."""
    estimator.predict(frames[0])
    count, start = 0, time.perf_counter()
    while True:
        estimator.predict(frames[count % len(frames)])
        count += 1
        elapsed = time.perf_counter() - start
        if elapsed >= budget:
            return elapsed / count


def normalised_diff(a: np.ndarray, b: np.ndarray) -> float:
    """Mean |a - b| after scaling each map to 0..1 by its own min and max."""
    def norm(d: np.ndarray) -> np.ndarray:
        return (d - d.min()) / max(float(d.max() - d.min()), 1e-12)
    return float(np.abs(norm(a) - norm(b)).mean())


def depth_diff(got: np.ndarray, expected: np.ndarray, info: ModelInfo) -> float:
    """How far a candidate's depth is from ORT fp32's, on a 0..1 scale comparable with ``TOLERANCE``.

    Relative models: ``normalised_diff``, since their scale and shift mean nothing (the view
    normalises them too). Metric models: mean |difference| in metres over ``max_depth``,
    because there the numbers are the output (the probe, the sidecars, the point cloud read
    metres) and a uniform offset or scale error, which min-max normalisation would hide,
    must count. Dividing by the model's range rather than each frame's keeps the figure
    steady on near-flat calibration frames, and reads directly: 0.01 is a mean 0.2 m at
    20 m (indoor), 0.8 m at 80 m (outdoor).
    """
    if info.is_metric and info.max_depth:
        return float(np.abs(got.astype(np.float64) - expected).mean() / info.max_depth)
    return normalised_diff(got, expected)


def diff_meaning(info: ModelInfo) -> str:
    """What the depth diff column is for this model (the table says it)."""
    if info.is_metric:
        return f"mean |difference| in metres / {info.max_depth:g} m"
    return "mean |difference| of min-max normalised maps"


def candidates(engine: str, precision: str, bf16: bool) -> list[tuple[str, str]]:
    """Registered engine x precision pairs allowed by the settings (``auto`` = all); bf16 only where the CPU has it."""
    pairs = [(e.name, p) for e in ENGINES for p in e.precisions if not (p == "bf16" and not bf16)]
    return [(e, p) for e, p in pairs if engine in ("auto", e) and precision in ("auto", p)]


def measure(model: Path, pairs: list[tuple[str, str]], threads: int, net_size: int | None, cache_dir: Path,
            frames: list[np.ndarray], budget: float = BUDGET, timer: Timer = time_per_frame) -> list[Row]:
    """Time and check each pair; one that cannot load or run is recorded with its reason, not raised."""
    reference = make_engine(model, "onnxruntime", "fp32", threads, net_size, cache_dir)
    info = reference.info
    expected = [reference.predict(frame) for frame in frames]
    rows = []
    for engine, precision in pairs:
        row = Row(engine, precision)
        try:
            estimator = make_engine(model, engine, precision, threads, net_size, cache_dir)
            got = [estimator.predict(frame) for frame in frames]
            row.diff = float(np.mean([depth_diff(g, e, info) for g, e in zip(got, expected)]))
            row.seconds = float(timer(estimator, frames, budget))
        except Exception as exc:  # noqa: BLE001 - auto never fails because one candidate cannot run
            row.error = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        rows.append(row)
    return rows


def no_gain(row: Row, rows: list[Row], margin: float = INT8_MARGIN) -> bool:
    """An int8 row not ``margin`` times faster than fp32 of its own engine: it costs accuracy and buys nothing.

    On an AVX2 CPU without VNNI int8 ran 0.95x fp32; a few percent either way is measurement noise.
    """
    if row.precision != "int8" or row.seconds is None:
        return False
    fp32 = next((r.seconds for r in rows if (r.engine, r.precision) == (row.engine, "fp32") and r.seconds), None)
    return fp32 is not None and row.seconds * margin > fp32


def pick(rows: list[Row], tolerance: float = TOLERANCE) -> Choice:
    """The fastest row within ``tolerance`` of ORT fp32, with a one-line reason; never an int8 with ``no_gain``."""
    ok = [r for r in rows if r.seconds is not None and r.diff is not None and r.diff <= tolerance
          and not no_gain(r, rows)]
    if not ok:
        failed = "; ".join(f"{r.engine} {r.precision}: {r.error or f'depth diff {r.diff:.3f}'}" for r in rows)
        raise ModelError(f"no engine could run the model ({failed}); check --model, --engine and --precision")
    best = min(ok, key=lambda r: r.seconds or 0.0)
    base = next((r.seconds for r in rows if (r.engine, r.precision) == ("onnxruntime", "fp32") and r.seconds), None)
    speed = f"{base / best.seconds:.1f}x onnxruntime fp32" if base and best.seconds else "fastest candidate"
    return Choice(best.engine, best.precision, f"{speed} on this CPU, depth diff {best.diff:.3f}", rows)


def cpu_identity() -> str:
    """CPU model name and feature flags: a decision made on another CPU is never reused."""
    name, flags = platform.processor() or platform.machine(), ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name" and not name.startswith("model:"):
                name = "model:" + value.strip()
            elif key.strip() in ("flags", "Features") and not flags:
                flags = " ".join(sorted(value.split()))
    except OSError:
        pass
    return f"{name} | {flags} | {os.cpu_count()} cpus"


def library_versions() -> dict[str, str]:
    import onnxruntime

    versions = {"onnxruntime": onnxruntime.__version__, "numpy": np.__version__}
    try:
        import openvino

        versions["openvino"] = openvino.__version__
    except ImportError:
        versions["openvino"] = "missing"
    return versions


def fingerprint(model: Path, engine: str, precision: str, threads: int, net_size: int | None,
                info: ModelInfo | None = None) -> dict:
    """Everything that could change the decision: the model (its bytes, name and output kind), CPU, versions, settings.

    ``net_size`` None is the model's own default, keyed as that size (asking for it by number
    reuses the decision); ``info`` is read from the file when not given.
    """
    from stream.core.cache import sha256_of

    info = info if info is not None else read_info(model)
    return {"model_sha256": sha256_of(model), "model": info.name, "output": info.output,
            "cpu": cpu_identity(), "versions": library_versions(),
            "net_size": net_size if net_size is not None else info.net_size, "threads": threads,
            "engine": engine, "precision": precision}


def decision_path(cache_dir: Path, key: dict) -> Path:
    model = re.sub(r"[^A-Za-z0-9._-]+", "_", str(key.get("model", "")))[:48]
    name = (f"engine-{model}-{key['model_sha256'][:16]}-{key['net_size']}-{key['threads']}-{key['engine']}-"
            f"{key['precision']}.json")
    return Path(cache_dir) / "engines" / name


def load_decision(path: Path, key: dict) -> Choice | None:
    """The cached choice if the file parses and was made for exactly this key; else None."""
    try:
        data = json.loads(path.read_text())
        if data.get("key") != key:
            return None
        rows = [Row(**row) for row in data["rows"]]
        return Choice(str(data["engine"]), str(data["precision"]), str(data["reason"]), rows)
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return None


def save_decision(path: Path, key: dict, choice: Choice) -> None:
    """Write under a temporary name, then rename: a crash never leaves half a decision."""
    from stream.core.staging import write_bytes_atomically

    path.parent.mkdir(parents=True, exist_ok=True)
    data = {"key": key, "engine": choice.engine, "precision": choice.precision, "reason": choice.reason,
            "rows": [asdict(row) for row in choice.rows]}
    write_bytes_atomically(path, json.dumps(data, indent=2).encode())


def calibration_frames(count: int = 4) -> list[np.ndarray]:
    from stream.engines.quantize import varied_frames

    return varied_frames(count, 320, 240)


def decide(model: Path, engine: str, precision: str, threads: int, net_size: int | None, cache_dir: Path,
           budget: float = BUDGET, timer: Timer = time_per_frame, frames: list[np.ndarray] | None = None) -> Choice:
    """The cached decision for this model, CPU and versions, or a new measurement (then cached).

    Per model: the key holds the model file's SHA-256, its name and output kind, so a
    Depth Anything decision is never reused for MiDaS. ``net_size`` None = the model's own.
    """
    from stream.engines.openvino import has_bf16

    key = fingerprint(model, engine, precision, threads, net_size)
    path = decision_path(cache_dir, key)
    cached = load_decision(path, key)
    if cached is not None:
        return cached
    log.info("measuring engines for %s (%s) once (some seconds); the choice is cached in %s", key["model"], model.name,
             path.parent)
    pairs = candidates(engine, precision, has_bf16())
    rows = measure(model, pairs, threads, net_size, cache_dir, frames or calibration_frames(), budget, timer)
    # a precision the user set is taken as is: auto then only picks the engine
    choice = pick(rows, TOLERANCE if precision == "auto" else float("inf"))
    save_decision(path, key, choice)
    return choice


def estimator_for(model: Path, engine: str, precision: str, threads: int, net_size: int | None, cache_dir: Path,
                  budget: float = BUDGET, timer: Timer = time_per_frame) -> BaseEstimator:
    """The engine the settings ask for; ``auto`` in either setting goes through ``decide``."""
    return engines_for(model, engine, precision, threads, net_size, cache_dir, budget=budget, timer=timer)[0]


def engines_for(model: Path, engine: str, precision: str, threads: int, net_size: int | None, cache_dir: Path,
                copies: int = 1, copy_threads: int | None = None, budget: float = BUDGET,
                timer: Timer = time_per_frame) -> list[BaseEstimator]:
    """``copies`` engines of the kind the settings ask for (``auto`` goes through ``decide``).

    The choice is made (or read from the cache) once, at ``threads``; each copy then runs
    with ``copy_threads`` (default ``threads``): file mode's frames in flight at once.
    ``net_size`` None = the model's own default (``info.net_size`` in its metadata).
    """
    each = threads if copy_threads is None else copy_threads
    if engine != "auto" and precision == "auto" and engine in ENGINES and len(ENGINES.get(engine).precisions) == 1:
        precision = ENGINES.get(engine).precisions[0]  # nothing to measure: the engine runs one precision
    if engine != "auto" and precision != "auto":
        chosen, why = engine, "as set"
    else:
        check_choice(engine, precision)
        choice = decide(model, engine, precision, threads, net_size, cache_dir, budget, timer)
        chosen, precision, why = choice.engine, choice.precision, choice.reason
    estimators = [make_engine(model, chosen, precision, each, net_size, cache_dir) for _ in range(max(1, copies))]
    copies_note = f", {len(estimators)} frames at once x {each} thread{'s' if each != 1 else ''}" if len(estimators) > 1 else ""
    log.info("engine: %s %s (%s)%s", chosen, precision, why, copies_note)
    return estimators
