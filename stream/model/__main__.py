"""``python -m stream.model``: export, quantise or download the depth model ahead of time.

    export    --output m.onnx (--weights PATH | --random-seed N)
    quantize  --input m.onnx --output m-int8.onnx [--calibration VIDEO] [--frames N] [--scheme u8s8|u8u8|u8s8-reduced]
    download  [--cache-dir DIR]
    engines   [--model M.onnx | --weights W.pt | --random-seed N] [--model-name NAME] [--threads N] [--net-size N]
              [--shape live|file|both] [--remeasure] [--cache-dir DIR]

``--random-seed`` builds the real architecture with seeded random weights. It exists for
tests and benchmarks only: the depth it produces is meaningless.

``export`` and ``download`` take ``--model-name NAME``, one of the registered models
(default midas-small): the network the weights are for, and whose official weights to fetch.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from stream.model.registry import DEFAULT_MODEL, MODELS, model_choices


def add_model_name(parser: argparse.ArgumentParser) -> None:
    lines = "; ".join(MODELS.get(name).help_line() for name in model_choices())
    parser.add_argument("--model-name", choices=model_choices(), default=DEFAULT_MODEL, metavar="NAME",
                        help=f"which model (default {DEFAULT_MODEL}): {lines}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m stream.model", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)

    export = commands.add_parser("export", help="export a depth model to ONNX (opset 17, dynamic H/W, the model's facts in its metadata)")
    add_model_name(export)
    export.add_argument("--output", type=Path, required=True, help="ONNX file to write")
    source = export.add_mutually_exclusive_group(required=True)
    source.add_argument("--weights", type=Path, help="the model's checkpoint (.pt/.pth, plain or wrapped state dict)")
    source.add_argument(
        "--random-seed",
        type=int,
        help="FOR TESTS AND BENCHMARKS ONLY: seeded random weights of the real architecture (meaningless depth)",
    )

    quantize = commands.add_parser("quantize", help="static INT8 (QDQ, calibrated) copy of an ONNX depth model")
    quantize.add_argument("--input", type=Path, required=True, help="fp32 ONNX model")
    quantize.add_argument("--output", type=Path, required=True, help="int8 ONNX model to write")
    quantize.add_argument("--calibration", type=Path, help="video whose frames calibrate activation ranges (default: varied synthetic scenes)")
    quantize.add_argument("--frames", type=int, default=8, help="number of calibration frames (default 8)")
    quantize.add_argument("--scheme", choices=("u8s8", "u8u8", "u8s8-reduced"),
                          help="int8 weights for the CPU that will run the copy (default: this CPU's: u8u8 on x86 "
                               "without VNNI, else u8s8; see README Engines)")

    engines = commands.add_parser("engines", help="measure every engine x precision on this machine for one model and print the table per run shape")
    chosen = engines.add_mutually_exclusive_group()
    chosen.add_argument("--model", type=Path, help="ONNX depth model (default: MiDaS v2.1 small)")
    chosen.add_argument("--weights", type=Path, help="MiDaS v2.1 small checkpoint to export first")
    chosen.add_argument("--random-seed", type=int, help="FOR BENCHMARKS ONLY: seeded random weights")
    from stream.model.registry import model_choices

    engines.add_argument("--model-name", choices=model_choices(),
                         help="the model whose weights (official, --weights or --random-seed) are measured (default midas-small)")
    engines.add_argument("--threads", type=int, default=0, help="engine threads, 0 = default")
    engines.add_argument("--net-size", type=int, help="network input's long-side bound (default: the model's own, 256 for MiDaS)")
    engines.add_argument("--shape", choices=("live", "file", "both"), default="both",
                         help="which run shape's table (default both): live = one engine with every thread (live mode, "
                              "photos); file = one single-threaded engine per core, timed at once (files, batches). "
                              "auto decides and caches each shape apart")
    engines.add_argument("--remeasure", action="store_true",
                         help="forget this model's cached engine decisions (every shape) and measure again")
    engines.add_argument("--cache-dir", type=Path, help="cache folder (default: see README)")

    download = commands.add_parser("download", help="fetch and verify the official weights into the cache")
    add_model_name(download)
    download.add_argument("--cache-dir", type=Path, help="cache folder (default: see README)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from stream.core.errors import DepthStreamError

    try:
        if args.command == "export":
            from stream.model.checkpoint import network_from_file, random_network
            from stream.model.export import export_onnx

            if args.random_seed is not None:
                print(f"warning: random weights (seed {args.random_seed}) - for tests and benchmarks only", file=sys.stderr)
                model = random_network(args.random_seed, args.model_name)
            else:
                model = network_from_file(args.weights, args.model_name)
            print(export_onnx(model, args.output, MODELS.get(args.model_name).info))
        elif args.command == "quantize":
            from stream.engines.quantize import quantize_model, refuse_quantized, varied_frames
            from stream.model.calibration import video_frames

            refuse_quantized(args.input)
            frames = video_frames(args.calibration, args.frames) if args.calibration else varied_frames(args.frames)
            print(quantize_model(args.input, args.output, frames, args.scheme))
        elif args.command == "engines":
            from stream.model.table import print_engines

            print_engines(args)
        else:
            download_weights(args.model_name, args.cache_dir)
    except DepthStreamError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    return 0


def download_weights(name: str, cache_dir: Path | None) -> None:
    """Print the cached checkpoint's path; for a model with no published digest, also its SHA-256 to pin."""
    from stream.core.cache import default_cache_dir, sha256_of
    from stream.model import weights

    path = weights.ensure_weights(name, cache_dir or default_cache_dir())
    print(path)
    if MODELS.get(name).sha256 is None:
        print(weights.sha256_line(path, sha256_of(path)), file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
