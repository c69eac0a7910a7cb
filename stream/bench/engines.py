"""Benchmark figures per engine: every engine x precision side by side, the ``auto`` choice, idle CPU cost.

Kept apart from ``stream.bench.main`` (which times stages and the seed baseline) so each module has
one job; ``stream.bench.main`` calls these with its own model, frames and live-pipeline runner.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from stream.engines import BaseEstimator, make_engine
from stream.engines.choose import Choice, decide

IDLE_CAMERA_FPS = 30.0


def auto_choice(model: Path, cache: Path, threads: int, net_size: int, budget: float) -> Choice:
    """The decision the app would make for this model here (measured into the bench's own cache)."""
    return decide(model, "auto", "auto", threads, net_size, cache, budget)


def engine_rows(choice: Choice, model: Path, cache: Path, threads: int, frame: np.ndarray, repeats: int,
                live: Any) -> list[dict[str, Any]]:
    """Standalone and live-pipeline FPS for every candidate that runs, with its accuracy vs ORT fp32."""
    from stream.bench.timing import standalone_fps

    rows = []
    for row in choice.rows:
        entry: dict[str, Any] = {"engine": row.engine, "precision": row.precision, "depth_diff_vs_fp32": row.diff,
                                 "auto_timing_fps": 1.0 / row.seconds if row.seconds else None, "error": row.error}
        if row.error is None:
            estimator = make_engine(model, row.engine, row.precision, threads, cache_dir=cache)
            entry["standalone_fps"] = standalone_fps(estimator, frame, repeats)
            entry["live_depth_fps"] = live(estimator)["depth_fps"]
        rows.append(entry)
    return rows


def cpu_per_frame(estimator: BaseEstimator, live: Any, seconds: float) -> dict[str, float]:
    """Process CPU seconds per depth frame over a live run at a 30 fps paced source (idle cost between frames)."""
    start = time.process_time()
    result = live(estimator, seconds=seconds, camera_fps=IDLE_CAMERA_FPS)
    used = time.process_time() - start
    return {"cpu_s_per_frame": used / max(result["frames"], 1), "depth_fps": result["depth_fps"]}


def idle_variants(choice: Choice, model: Path, cache: Path, threads: int) -> dict[str, BaseEstimator]:
    """The settings whose idle cost is compared: ORT fp32 and int8 spin on/off, OpenVINO fp32, the auto choice."""
    variants: dict[str, BaseEstimator] = {
        "onnxruntime fp32 spin": make_engine(model, "onnxruntime", "fp32", threads, cache_dir=cache, spin=True),
        "onnxruntime fp32 no-spin": make_engine(model, "onnxruntime", "fp32", threads, cache_dir=cache, spin=False),
    }
    runs = {(r.engine, r.precision) for r in choice.rows if r.error is None}
    if ("onnxruntime", "int8") in runs:  # fast enough to wait for the camera: where spinning shows
        for name, flag in (("spin", True), ("no-spin", False)):
            variants[f"onnxruntime int8 {name}"] = make_engine(model, "onnxruntime", "int8", threads, cache_dir=cache, spin=flag)
    if ("openvino", "fp32") in runs:
        variants["openvino fp32"] = make_engine(model, "openvino", "fp32", threads, cache_dir=cache)
    spin = {"spin": True, "no-spin": False}
    if choice.engine == "onnxruntime":
        for name, flag in spin.items():
            variants[f"auto ({choice.engine} {choice.precision}) {name}"] = make_engine(
                model, choice.engine, choice.precision, threads, cache_dir=cache, spin=flag)
    else:
        variants[f"auto ({choice.engine} {choice.precision})"] = make_engine(model, choice.engine, choice.precision,
                                                                             threads, cache_dir=cache)
    return variants


def idle_report(choice: Choice, model: Path, cache: Path, threads: int, live: Any, seconds: float) -> dict[str, Any]:
    return {name: cpu_per_frame(estimator, live, seconds)
            for name, estimator in idle_variants(choice, model, cache, threads).items()}


def engine_lines(report: dict[str, Any]) -> list[str]:
    """The bench table's engine section."""
    lines = ["", f"{'engine x precision':<22}{'standalone':>11}{'live':>8}{'depth diff':>11}   (fps; diff vs ORT fp32)"]
    for row in report["engines"]:
        name = f"{row['engine']} {row['precision']}"
        if row.get("error"):
            lines.append(f"  {name:<20}cannot run: {row['error']}")
        else:
            lines.append(f"  {name:<20}{row['standalone_fps']:11.1f}{row['live_depth_fps']:8.1f}{row['depth_diff_vs_fp32']:11.4f}")
    auto = report["auto"]
    lines.append(f"auto choice: {auto['engine']} {auto['precision']} ({auto['reason']})")
    lines.append(f"CPU seconds per depth frame, live at {IDLE_CAMERA_FPS:.0f} fps paced source")
    lines += [f"  {name:<36}{v['cpu_s_per_frame']:7.3f} s   ({v['depth_fps']:.1f} depth fps)"
              for name, v in report["idle_cpu_s_per_frame"].items()]
    return lines
