"""``python -m stream.bench.models``: every model x engine x precision, side by side, in one run.

Which model to choose is a trade of speed against detail and metres; this measures the speed
half on this CPU. For every registered model (seeded random weights of the real architecture,
exported through the app's own path, so the speed is the real network's) at its default
network size on a 640x480 input:

* standalone inference FPS and live-pipeline depth FPS for each engine x precision;
* the cost against MiDaS small (ONNX Runtime fp32) measured in the same interleaved rounds, so
  a load change on a shared machine hits both sides of the ratio;
* GFLOP per frame at that size (counted by torch), the GFLOP/s each engine reaches and that as a
  share of the CPU class's nominal fp32 peak (``percent_of_peak``: "x% of what this CPU can do";
  int8 and bf16 can pass 100%, as the peak is fp32's);
* with ``--sizes``, Depth Anything's standalone FPS at several input sizes (how its default was chosen).

The metric models share the relative model's graph but for the head's last activation; they are
measured anyway, so no figure is inferred.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from stream.bench.main import HEIGHT, WIDTH, cpu_line, live_pipeline, machine_facts, synthetic_frames
from stream.bench.report import bench_parser, log, publish
from stream.bench.timing import standalone_fps

BASELINE = ("midas-small", "onnxruntime", "fp32")
DEFAULT_SIZES = (196, 252, 308, 364, 518)


def gflop_per_frame(name: str, width: int, height: int) -> float:
    """Multiply-adds x 2 of one forward pass at this network input, as torch's FLOP counter counts them."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from stream.model.registry import build_network

    network = build_network(name)
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        network(torch.zeros(1, 3, height, width))
    return counter.get_total_flops() / 1e9


def pairs_here(skip_int8: bool) -> list[tuple[str, str]]:
    """Every registered engine x precision this CPU can run (bf16 only where it is native)."""
    from stream.engines.choose import candidates
    from stream.engines.openvino import has_bf16

    return [(e, p) for e, p in candidates("auto", "auto", has_bf16()) if not (skip_int8 and p == "int8")]


def build_engines(models: dict[str, Path], pairs: list[tuple[str, str]], threads: int,
                  cache: Path) -> tuple[dict[tuple[str, str, str], Any], dict[tuple[str, str, str], str]]:
    """One engine per model x engine x precision; one that cannot be built is reported with its reason."""
    from stream.core.errors import DepthStreamError
    from stream.engines import make_engine

    engines: dict[tuple[str, str, str], Any] = {}
    errors: dict[tuple[str, str, str], str] = {}
    for name, model in models.items():
        for engine, precision in pairs:
            log(f"{name}: {engine} {precision}")
            try:
                engines[(name, engine, precision)] = make_engine(model, engine, precision, threads, None, cache)
            except DepthStreamError as exc:
                errors[(name, engine, precision)] = str(exc)
    return engines, errors


def size_sweep(model: Path, sizes: tuple[int, ...], threads: int, frame: np.ndarray, repeats: int,
               cache: Path) -> list[dict[str, Any]]:
    """Standalone ORT fp32 FPS of one model at several input bounds (long side)."""
    from stream.engines import make_engine

    rows = []
    for size in sizes:
        estimator = make_engine(model, "onnxruntime", "fp32", threads, size, cache)
        width, height = estimator.input_size(frame.shape[1], frame.shape[0])
        rows.append({"net_size": size, "input": f"{width}x{height}", "standalone_fps": standalone_fps(estimator, frame, repeats)})
    return rows


def run(args: argparse.Namespace) -> dict[str, Any]:
    from stream.model.registry import MODELS
    from stream.model.table import random_model

    names = args.models or list(MODELS.names())
    if BASELINE[0] not in names:
        names.insert(0, BASELINE[0])
    report: dict[str, Any] = {"machine": machine_facts(), "input": f"{WIDTH}x{HEIGHT}", "rounds": args.rounds,
                              "weights": f"random, seed {args.seed} (real architectures; speed only)"}
    frames = synthetic_frames(8)
    with contextlib.ExitStack() as stack:
        cache = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="depth-bench-models-")))
        models = {}
        for name in names:
            log(f"{name}: random weights (seed {args.seed}), exported to ONNX")
            models[name] = random_model(name, args.seed, cache)
        pairs = pairs_here(args.skip_int8)
        engines, errors = build_engines(models, pairs, args.threads, cache)
        rounds: list[dict[tuple[str, str, str], dict[str, float]]] = []
        for index in range(args.rounds):
            log(f"round {index + 1}/{args.rounds}: every model x engine x precision, standalone then live")
            row = {}
            for key, estimator in engines.items():
                live = live_pipeline(estimator, args.seconds, args.camera_fps, warmup=args.warmup)
                row[key] = {"standalone_fps": standalone_fps(estimator, frames[0], args.repeats), "live_depth_fps": live["depth_fps"]}
            rounds.append(row)
        report["models"] = model_rows(names, models, engines, errors, rounds)
        if args.sizes:
            sweep_name = next((n for n in names if n != BASELINE[0]), None)
            if sweep_name is not None:
                log(f"{sweep_name}: standalone FPS at input bounds {', '.join(map(str, args.sizes))}")
                report["sizes"] = {"model": sweep_name,
                                   "rows": size_sweep(models[sweep_name], tuple(args.sizes), args.threads, frames[0],
                                                      args.repeats, cache)}
    return report


def model_rows(names: list[str], models: dict[str, Path], engines: dict[tuple[str, str, str], Any],
               errors: dict[tuple[str, str, str], str], rounds: list[dict[tuple[str, str, str], dict[str, float]]]
               ) -> list[dict[str, Any]]:
    """Medians over the rounds; the cost ratio is the median of per-round ratios (same round, same load)."""
    peak = machine_facts()["peak_gflops_fp32"]
    rows = []
    for name in names:
        first = next((e for (n, _, _), e in engines.items() if n == name), None)
        width, height = first.input_size(WIDTH, HEIGHT) if first is not None else (0, 0)
        gflop = gflop_per_frame(name, width, height) if first is not None else float("nan")
        entry: dict[str, Any] = {"model": name, "input": f"{width}x{height}", "gflop_per_frame": gflop, "engines": []}
        for key in [k for k in list(engines) + list(errors) if k[0] == name]:
            if key in errors:
                entry["engines"].append({"engine": key[1], "precision": key[2], "error": errors[key]})
                continue
            standalone = float(np.median([r[key]["standalone_fps"] for r in rounds]))
            live = float(np.median([r[key]["live_depth_fps"] for r in rounds]))
            cost = float(np.median([r[BASELINE]["standalone_fps"] / r[key]["standalone_fps"] for r in rounds])) \
                if BASELINE in rounds[0] else float("nan")
            entry["engines"].append({"engine": key[1], "precision": key[2], "standalone_fps": standalone,
                                     "live_depth_fps": live, "cost_vs_midas_ort_fp32": cost,
                                     "gflop_per_s": gflop * standalone,
                                     "percent_of_peak": 100 * gflop * standalone / peak if peak else None})
        rows.append(entry)
    return rows


def format_table(report: dict[str, Any]) -> str:
    machine = report["machine"]
    lines = [f"models on {machine['cpu']} ({machine['cores']} cores), {report['input']} input, median of {report['rounds']} rounds",
             cpu_line(machine),
             f"{'model':<32} {'input':>7} {'GFLOP':>6} {'engine':<12} {'prec':<5} {'alone fps':>9} {'live fps':>8} "
             f"{'x MiDaS cost':>12} {'GFLOP/s':>8} {'% peak':>6}"]
    for model in report["models"]:
        for row in model["engines"]:
            head = f"{model['model']:<32} {model['input']:>7} {model['gflop_per_frame']:6.2f} {row['engine']:<12} {row['precision']:<5}"
            if "error" in row:
                lines.append(f"{head} cannot run: {row['error']}")
                continue
            share = f"{row['percent_of_peak']:6.1f}" if row.get("percent_of_peak") is not None else f"{'-':>6}"
            lines.append(f"{head} {row['standalone_fps']:9.1f} {row['live_depth_fps']:8.1f} {row['cost_vs_midas_ort_fp32']:12.2f} "
                         f"{row['gflop_per_s']:8.1f} {share}")
    if "sizes" in report:
        lines.append(f"{report['sizes']['model']} (onnxruntime fp32) by input bound:")
        lines += [f"  net_size {r['net_size']:>4} -> {r['input']:>8}: {r['standalone_fps']:5.1f} fps" for r in report["sizes"]["rows"]]
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = bench_parser("python -m stream.bench.models", "Every model x engine x precision on this CPU (random weights: speed only).")
    parser.add_argument("--models", nargs="+", metavar="NAME", help="models to measure (default: every registered one)")
    parser.add_argument("--threads", type=int, default=0, help="engine threads (0 = one per core)")
    parser.add_argument("--rounds", type=int, default=2, help="interleaved rounds")
    parser.add_argument("--seconds", type=float, default=4.0, help="live pipeline measuring time per engine per round")
    parser.add_argument("--warmup", type=float, default=1.0, help="seconds each live run settles before measuring")
    parser.add_argument("--camera-fps", type=float, default=240.0, help="paced source rate, faster than inference")
    parser.add_argument("--repeats", type=int, default=15, help="timed calls for each standalone figure")
    parser.add_argument("--seed", type=int, default=0, help="random-weights seed")
    parser.add_argument("--skip-int8", action="store_true", help="skip the int8 rows (quantising each model takes a while)")
    parser.add_argument("--sizes", type=int, nargs="*", default=None, metavar="N",
                        help=f"also time Depth Anything at these input bounds (alone: {' '.join(map(str, DEFAULT_SIZES))})")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.sizes == []:
        args.sizes = list(DEFAULT_SIZES)
    report = run(args)
    return publish(report, format_table(report), args.json)


if __name__ == "__main__":
    sys.exit(main())
