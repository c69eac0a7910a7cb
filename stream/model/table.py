"""``python -m stream.model engines``: measure every engine x precision here and print the table."""

from __future__ import annotations

import argparse
from pathlib import Path

from stream.engines.choose import BUDGET, Choice, decide


def model_for(args: argparse.Namespace, cache: Path) -> Path:
    """The fp32 ONNX file the table is for (exported once and cached when given weights or a seed)."""
    from stream.model.resolve import resolve_model

    if args.random_seed is None:
        return resolve_model(args.model, args.weights, cache, "fp32")
    from stream.model.checkpoint import random_network
    from stream.model.export import export_onnx

    path = cache / f"random-seed-{args.random_seed}.onnx"
    if not path.is_file():
        export_onnx(random_network(args.random_seed), path)
    return path


def format_table(choice: Choice) -> list[str]:
    base = next((r.seconds for r in choice.rows if (r.engine, r.precision) == ("onnxruntime", "fp32")), None)
    lines = [f"{'engine':<12} {'precision':<9} {'ms/frame':>8} {'fps':>6} {'vs ORT fp32':>11} {'depth diff':>10}"]
    for row in choice.rows:
        if row.seconds is None or row.diff is None:
            lines.append(f"{row.engine:<12} {row.precision:<9} cannot run: {row.error}")
            continue
        speed = f"{base / row.seconds:.2f}x" if base else "-"
        lines.append(f"{row.engine:<12} {row.precision:<9} {row.seconds * 1e3:8.1f} {1 / row.seconds:6.1f} {speed:>11} "
                     f"{row.diff:10.4f}")
    lines.append(f"auto: {choice.engine} {choice.precision} ({choice.reason})")
    return lines


def print_engines(args: argparse.Namespace, budget: float = BUDGET) -> None:
    from stream.core.cache import default_cache_dir

    cache = args.cache_dir or default_cache_dir()
    model = model_for(args, cache)
    choice = decide(model, "auto", "auto", args.threads, args.net_size, cache, budget)
    print("\n".join(format_table(choice)))
