"""``python -m stream.model engines``: measure every engine x precision here for one model and print the table.

One table per run shape (``--shape``, both by default): live mode's one engine with every
thread, and file mode's one single-threaded engine per core, since the fastest engine can
differ between them. ``--remeasure`` forgets the model's cached decisions first.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from stream.core.modelinfo import ModelInfo
from stream.engines.choose import BUDGET, Choice, decide, diff_meaning, forget, no_gain
from stream.engines.shape import RunShape, file_shape
from stream.model.registry import DEFAULT_MODEL, MODELS


def model_for(args: argparse.Namespace, cache: Path) -> Path:
    """The fp32 ONNX file the table is for (exported once and cached when given weights or a seed).

    ``--model-name`` picks the model whose weights (official, ``--weights`` or seeded random)
    are exported; an ONNX file given with ``--model`` says its model in its own metadata,
    which a ``--model-name`` given too must match.
    """
    name = args.model_name or DEFAULT_MODEL
    if args.random_seed is not None:
        return random_model(name, args.random_seed, cache)
    from stream.engines.metadata import read_info
    from stream.model.resolve import check_model_name, resolve_model

    path = resolve_model(args.model, args.weights, cache, "fp32", name=name)
    check_model_name(args.model, args.model_name, read_info(path).name)
    return path


def random_model(name: str, seed: int, cache: Path) -> Path:
    """The named architecture with seeded random weights, exported with its metadata once and cached."""
    from stream.model.checkpoint import random_network
    from stream.model.export import export_onnx

    path = cache / f"random-{name}-seed-{seed}.onnx"
    if not path.is_file():
        export_onnx(random_network(seed, name=name), path, MODELS.get(name).info)
    return path


def model_line(info: ModelInfo, net_size: int | None) -> str:
    """What the table is for: the model, its network input and what the depth diff column measures."""
    size = net_size if net_size is not None else info.net_size
    return (f"model: {info.describe()}; network input up to {size} px (multiples of {info.multiple}); "
            f"depth diff: {diff_meaning(info)}")


def format_table(choice: Choice) -> list[str]:
    """One line per candidate (an int8 that is no faster than its engine's fp32 says so), then auto's choice."""
    base = next((r.seconds for r in choice.rows if (r.engine, r.precision) == ("onnxruntime", "fp32")), None)
    lines = [f"{'engine':<12} {'precision':<9} {'ms/frame':>8} {'fps':>6} {'vs ORT fp32':>11} {'depth diff':>10}  rounds (ms)"]
    for row in choice.rows:
        if row.seconds is None or row.diff is None:
            lines.append(f"{row.engine:<12} {row.precision:<9} cannot run: {row.error}")
            continue
        speed = f"{base / row.seconds:.2f}x" if base else "-"
        note = "  no gain: never picked by auto" if no_gain(row, choice.rows) else ""
        lines.append(f"{row.engine:<12} {row.precision:<9} {row.seconds * 1e3:8.1f} {1 / row.seconds:6.1f} {speed:>11} "
                     f"{row.diff:10.4f}  {' / '.join(f'{r * 1e3:.1f}' for r in row.rounds)}{note}")
    lines.append(f"auto: {choice.engine} {choice.precision} ({choice.reason})")
    return lines


def shapes(which: str, threads: int) -> list[RunShape]:
    """The run shapes ``--shape`` asks for: live (one engine, ``threads``), file (one engine per core), or both."""
    found = {"live": RunShape(1, threads), "file": file_shape(threads)}
    return [found[name] for name in ("live", "file") if which in (name, "both")]


def print_engines(args: argparse.Namespace, budget: float = BUDGET) -> None:
    from stream.core.cache import default_cache_dir
    from stream.engines.metadata import read_info

    cache = args.cache_dir or default_cache_dir()
    model = model_for(args, cache)
    if args.remeasure:
        removed = forget(model, cache)
        print(f"forgot {len(removed)} cached decision{'s' if len(removed) != 1 else ''} for {model.name}; measuring again")
    lines = [model_line(read_info(model), args.net_size)]
    for shape in shapes(args.shape, args.threads):
        choice = decide(model, "auto", "auto", args.threads, args.net_size, cache, budget, copies=shape.copies,
                        copy_threads=shape.threads)
        together = " (ms/frame and fps: all engines together)" if shape.copies > 1 else ""
        lines += [f"shape {shape.describe()}{together}", *format_table(choice)]
    print("\n".join(lines))
