"""``auto``: measure each engine x precision once per model, run shape, CPU and library versions; reuse the decision.

The shape is the one the run builds (``stream.engines.shape``): live mode's one engine with
every thread, or file mode's one single-threaded engine per core, timed with the copies
predicting at once. The candidates are timed in interleaved rounds (``ROUNDS``, the order
rotated each round, each candidate's median kept), so a burst of load elsewhere hits them
all alike rather than one whole block; and the CPU time other processes took meanwhile is
watched (``stream.engines.busy``): a decision measured on a busy machine is used for that
run only, never cached. Each candidate's depth is compared with
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
import statistics
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from stream.core.errors import ModelError
from stream.core.modelinfo import ModelInfo
from stream.engines import ENGINES, BaseEstimator, check_choice, make_engine
from stream.engines.busy import BUSY_CORES, BusyMeter, others_cpu
from stream.engines.metadata import read_info
from stream.engines.shape import RunShape, on_own_thread, time_copies

log = logging.getLogger("stream")
TOLERANCE = 0.01
INT8_MARGIN = 1.10  # int8 must be at least this much faster than fp32 of the same engine to be picked
BUDGET = 1.5  # seconds per candidate, split between the rounds
OVERSIZE = 2  # model.net_size may be at most this many times the size the model was trained at
ROUNDS = 3
Timer = Callable[[list[BaseEstimator], list[np.ndarray], float], float]  # copies, frames, budget -> s per frame


@dataclass
class Row:
    """One candidate's figures: seconds per frame, depth difference vs ORT fp32, or why it could not run."""

    engine: str
    precision: str
    seconds: float | None = None
    diff: float | None = None
    error: str | None = None
    rounds: list[float] = field(default_factory=list)


@dataclass
class Choice:
    """The pick, why, every row; the shape it was measured in and, when measured on a busy machine, others' cores."""

    engine: str
    precision: str
    reason: str
    rows: list[Row]
    shape: str = "live"
    busy: float | None = None


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


def check_net_size(model: Path, net_size: int | None) -> None:
    """A network input far beyond the trained size is refused before any engine is built or measured.

    It shows the network nothing new (README "Models") and its cost grows with the area: at
    2048 MiDaS small took seconds a frame, and measuring the engines ran for minutes.
    A file without our metadata counts as MiDaS-sized (``ModelInfo``'s defaults).
    """
    if net_size is None:
        return
    info = read_info(model)
    limit = OVERSIZE * info.trained_size
    if net_size > limit:
        raise ModelError(f"model.net_size {net_size} is more than {OVERSIZE}x the {info.trained_size} pixels {info.name} was "
                         f"trained at (at most {limit}); lower --net-size, e.g. to {info.net_size} (its default) or auto")


def one_line(exc: Exception) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]


def measure(model: Path, pairs: list[tuple[str, str]], threads: int, net_size: int | None, cache_dir: Path,
            frames: list[np.ndarray], budget: float = BUDGET, timer: Timer = time_copies,
            shape: RunShape | None = None, rounds: int = ROUNDS) -> list[Row]:
    """Check each pair's depth, then time them in ``rounds`` interleaved rounds in ``shape``; keep each one's median.

    The reference (ORT fp32 at ``threads``) gives the expected depth; each candidate is built
    as the shape's copies. A pair that cannot load or run is recorded with its reason, not raised.
    """
    shape = shape or RunShape(1, threads)
    reference = make_engine(model, "onnxruntime", "fp32", threads, net_size, cache_dir)
    info = reference.info
    expected = [reference.predict(frame) for frame in frames]
    rows: list[Row] = []
    built: dict[int, list[BaseEstimator]] = {}
    for engine, precision in pairs:
        row = Row(engine, precision)
        try:
            built[id(row)], row.diff = checked_candidate(model, engine, precision, shape, net_size, cache_dir, frames,
                                                         expected, info)
        except Exception as exc:  # noqa: BLE001 - auto never fails because one candidate cannot run
            row.error = one_line(exc)
        rows.append(row)
    for turn in range(max(1, rounds)):
        timed = [row for row in rows if id(row) in built]
        if not timed:
            break
        for row in timed[turn % len(timed):] + timed[:turn % len(timed)]:
            try:
                row.rounds.append(float(timer(built[id(row)], frames, budget / max(1, rounds))))
            except Exception as exc:  # noqa: BLE001
                row.error, row.rounds = one_line(exc), []
                del built[id(row)]
    for row in rows:
        row.seconds = statistics.median(row.rounds) if row.rounds else None
    return rows


def checked_candidate(model: Path, engine: str, precision: str, shape: RunShape, net_size: int | None, cache_dir: Path,
                      frames: list[np.ndarray], expected: list[np.ndarray], info: ModelInfo) -> tuple[list[BaseEstimator], float]:
    """The shape's copies of one candidate and its depth difference from the reference (no reference kept here)."""
    copies = [make_engine(model, engine, precision, shape.threads, net_size, cache_dir) for _ in range(shape.copies)]
    got = [copies[0].predict(frame) for frame in frames]
    return copies, float(np.mean([depth_diff(g, e, info) for g, e in zip(got, expected)]))


def no_gain(row: Row, rows: list[Row], margin: float = INT8_MARGIN) -> bool:
    """An int8 row not ``margin`` times faster than fp32 of its own engine: it costs accuracy and buys nothing.

    On an AVX2 CPU without VNNI int8 ran 0.95x fp32; a few percent either way is measurement noise.
    """
    if row.precision != "int8" or row.seconds is None:
        return False
    fp32 = next((r.seconds for r in rows if (r.engine, r.precision) == (row.engine, "fp32") and r.seconds), None)
    return fp32 is not None and row.seconds * margin > fp32


def ranking_flipped(rows: list[Row]) -> bool:
    """Whether the fastest candidate differs between rounds (then only the medians decide)."""
    timed = [row for row in rows if row.rounds]
    winners = set()
    for turn in range(min((len(row.rounds) for row in timed), default=0)):
        times = [row.rounds[turn] for row in timed]
        best = timed[times.index(min(times))]
        winners.add((best.engine, best.precision))
    return len(winners) > 1


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
                info: ModelInfo | None = None, shape: RunShape | None = None) -> dict:
    """Everything that could change the decision: the model (its bytes, name and output kind), CPU, versions, settings,
    and the run shape (default: live, one engine with ``threads``).

    ``net_size`` None is the model's own default, keyed as that size (asking for it by number
    reuses the decision); ``info`` is read from the file when not given.
    """
    from stream.core.cache import sha256_of

    info = info if info is not None else read_info(model)
    shape = shape or RunShape(1, threads)
    return {"model_sha256": sha256_of(model), "model": info.name, "output": info.output,
            "cpu": cpu_identity(), "versions": library_versions(),
            "net_size": net_size if net_size is not None else info.net_size, "threads": threads,
            "engine": engine, "precision": precision,
            "shape": shape.name, "copies": shape.copies, "copy_threads": shape.threads}


def model_prefix(key: dict) -> str:
    """The start of every decision file's name for this model file: what ``forget`` removes."""
    model = re.sub(r"[^A-Za-z0-9._-]+", "_", str(key.get("model", "")))[:48]
    return f"engine-{model}-{key['model_sha256'][:16]}-"


def decision_path(cache_dir: Path, key: dict) -> Path:
    name = (f"{model_prefix(key)}{key['net_size']}-{key['threads']}-{key['shape']}-{key['copies']}x{key['copy_threads']}-"
            f"{key['engine']}-{key['precision']}.json")
    return Path(cache_dir) / "engines" / name


def forget(model: Path, cache_dir: Path) -> list[Path]:
    """Remove every cached decision for this model file (both shapes, any size, threads or settings); the paths removed."""
    key = fingerprint(model, "auto", "auto", 0, None)
    removed = []
    for path in sorted((Path(cache_dir) / "engines").glob(f"{model_prefix(key)}*.json")):
        path.unlink(missing_ok=True)
        removed.append(path)
    return removed


def load_decision(path: Path, key: dict) -> Choice | None:
    """The cached choice if the file parses and was made for exactly this key; else None."""
    try:
        data = json.loads(path.read_text())
        if data.get("key") != key:
            return None
        rows = [Row(**row) for row in data["rows"]]
        return Choice(str(data["engine"]), str(data["precision"]), str(data["reason"]), rows, str(key["shape"]))
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return None


def save_decision(path: Path, key: dict, choice: Choice, others: float = 0.0) -> None:
    """Write under a temporary name, then rename: a crash never leaves half a decision.

    ``others``: the cores other processes used meanwhile (below ``BUSY_CORES``, or it would not be saved)."""
    from stream.core.staging import write_bytes_atomically

    path.parent.mkdir(parents=True, exist_ok=True)
    data = {"key": key, "engine": choice.engine, "precision": choice.precision, "reason": choice.reason,
            "shape": choice.shape, "rounds": max((len(row.rounds) for row in choice.rows), default=0),
            "ranking_flipped": ranking_flipped(choice.rows), "others_cores": round(others, 3), "rows": [asdict(row) for row in choice.rows]}
    write_bytes_atomically(path, json.dumps(data, indent=2).encode())


def calibration_frames(count: int = 4) -> list[np.ndarray]:
    from stream.engines.quantize import varied_frames

    return varied_frames(count, 320, 240)


def decide(model: Path, engine: str, precision: str, threads: int, net_size: int | None, cache_dir: Path,
           budget: float = BUDGET, timer: Timer = time_copies, frames: list[np.ndarray] | None = None,
           copies: int = 1, copy_threads: int | None = None, busy: BusyMeter | None = None) -> Choice:
    """The cached decision for this model, run shape, CPU and versions, or a new measurement (cached unless busy).

    Per model: the key holds the model file's SHA-256, its name and output kind, so a
    Depth Anything decision is never reused for MiDaS. ``net_size`` None = the model's own.
    Per shape: ``copies`` engines of ``copy_threads`` (default ``threads``) each, timed at once.
    ``busy`` (default ``others_cpu``) watches other processes during the measurement; above
    ``BUSY_CORES`` the decision is returned for this run only and nothing is written.
    """
    from stream.engines.openvino import has_bf16

    check_net_size(model, net_size)
    shape = RunShape(max(1, copies), threads if copy_threads is None else copy_threads)
    key = fingerprint(model, engine, precision, threads, net_size, shape=shape)
    path = decision_path(cache_dir, key)
    cached = load_decision(path, key)
    if cached is not None:
        return cached
    log.info("measuring engines for %s (%s) as %s, %d rounds (some seconds); the choice is cached in %s",
             key["model"], model.name, shape.describe(), ROUNDS, path.parent)
    pairs = candidates(engine, precision, has_bf16())
    stop = (busy or others_cpu)()
    rows = on_own_thread(lambda: measure(model, pairs, threads, net_size, cache_dir, frames or calibration_frames(), budget,
                                         timer, shape))
    others = stop()
    # a precision the user set is taken as is: auto then only picks the engine
    choice = pick(rows, TOLERANCE if precision == "auto" else float("inf"))
    choice = replace(choice, reason=f"{choice.reason}; measured as {shape.describe()}", shape=shape.name)
    if others > BUSY_CORES:
        note = busy_note(others, choice)
        log.warning("%s", note)
        return replace(choice, reason=f"{choice.reason}; {note}", busy=others)
    save_decision(path, key, choice, others)
    return choice


def busy_note(others: float, choice: Choice) -> str:
    return (f"the machine was busy while measuring (others used {others:.1f} cores); using {choice.engine} "
            f"{choice.precision} for this run only, measuring again next time")


def estimator_for(model: Path, engine: str, precision: str, threads: int, net_size: int | None, cache_dir: Path,
                  budget: float = BUDGET, timer: Timer = time_copies) -> BaseEstimator:
    """The engine the settings ask for; ``auto`` in either setting goes through ``decide``."""
    return engines_for(model, engine, precision, threads, net_size, cache_dir, budget=budget, timer=timer)[0]


def engines_for(model: Path, engine: str, precision: str, threads: int, net_size: int | None, cache_dir: Path,
                copies: int = 1, copy_threads: int | None = None, budget: float = BUDGET,
                timer: Timer = time_copies, at_once: int | None = None) -> list[BaseEstimator]:
    """``copies`` engines of the kind the settings ask for (``auto`` goes through ``decide``).

    Each copy runs with ``copy_threads`` (default ``threads``): file mode's frames in flight
    at once. ``auto`` measures exactly that shape (the copies predicting at once), since an
    engine faster as one many-threaded engine can be slower as several single-threaded ones.
    ``at_once`` (default ``copies``) is how many run at once in all when other processes
    build the rest (the batch's actors, one engine each).
    ``net_size`` None = the model's own default (``info.net_size`` in its metadata).
    """
    check_net_size(model, net_size)
    each = threads if copy_threads is None else copy_threads
    count = max(1, copies)
    if engine != "auto" and precision == "auto" and engine in ENGINES and len(ENGINES.get(engine).precisions) == 1:
        precision = ENGINES.get(engine).precisions[0]  # nothing to measure: the engine runs one precision
    if engine != "auto" and precision != "auto":
        chosen, why = engine, "as set"
    else:
        check_choice(engine, precision)
        choice = decide(model, engine, precision, threads, net_size, cache_dir, budget, timer,
                        copies=max(1, at_once or count), copy_threads=each)
        chosen, precision, why = choice.engine, choice.precision, choice.reason
    estimators = [make_engine(model, chosen, precision, each, net_size, cache_dir) for _ in range(count)]
    copies_note = f", {len(estimators)} frames at once x {each} thread{'s' if each != 1 else ''}" if len(estimators) > 1 else ""
    log.info("engine: %s %s (%s)%s", chosen, precision, why, copies_note)
    return estimators
