"""``python -m stream.batch INPUTS... --output-dir DIR`` (also ``depth-stream batch ...``).

The model, engine, colour and probe flags are the single run's own (the same ``FLAGS`` rows,
the same config file and ``--set``); the batch adds where outputs go, the depth format, and
how Ray runs it. Exit codes: 0 every file done or skipped, 1 some failed, 2 bad arguments,
130/143 stopped by SIGINT/SIGTERM.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from stream import __version__
from stream.config.flags import FLAGS, add_flags, settings_from
from stream.core.logs import exit_code_of, is_quiet, with_our_logging

SHARED_FLAGS = ("--model-name", "--model", "--weights", "--engine", "--precision", "--colormap", "--normalize", "--max-frames",
                "--cache-dir", "--probe", "-q")  # the single run's flags that mean the same for every file
VIDEO_EXTS = ("mp4", "mkv", "mov", "avi", "webm")


def positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="depth-stream batch",
        description="Many videos and photos through the depth model on Ray: outputs mirror the input tree under "
                    "--output-dir, a rerun skips finished files, one bad file never stops the rest.",
        epilog="Inputs are read by the workers: on a cluster, give paths every node sees (shared storage).",
    )
    parser.add_argument("inputs", nargs="+", metavar="INPUTS", help="video or image files, folders (walked recursively), quoted globs")
    parser.add_argument("--output-dir", type=Path, required=True, metavar="DIR",
                        help="where outputs go, mirroring the input tree; also batch-summary.json and batch-manifest.json")
    parser.add_argument("--ext", choices=VIDEO_EXTS, default="mp4", help="container of the annotated videos (photos keep theirs)")
    parser.add_argument("--depth", choices=("16bit", "raw"), default=None,
                        help="keep each file's depth beside its output: 16bit = NAME.depth.mkv (video) / .png (photo) with a "
                             ".json sidecar; raw = float32 NAME.depth.npz / .npy")
    parser.add_argument("--ray-address", metavar="ADDRESS", default=None,
                        help="join a Ray cluster: auto (started here with `ray start`) or ray://HOST:PORT; default: a local Ray")
    parser.add_argument("--actors", type=positive, metavar="N", help="model copies working at once (default: one per core, single-threaded)")
    parser.add_argument("--threads-per-actor", type=positive, metavar="N", help="inference threads per actor (default: cores / actors)")
    add_flags(parser, [flag for flag in FLAGS if flag.names[0] in SHARED_FLAGS])
    parser.add_argument("--version", action="version", version=f"depth-stream {__version__}")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(None if argv is None else list(argv))
    return with_our_logging(args, run_cli)


def run_cli(args: argparse.Namespace) -> int:
    from stream.batch.run import BatchOptions, run_batch
    from stream.batch.summary import table, write_summary

    options = BatchOptions(args.output_dir, args.ext, args.depth, args.ray_address, args.actors, args.threads_per_actor)

    def work() -> int:
        summary = run_batch(settings_from(args), args.inputs, options)
        path = write_summary(options.output_dir.expanduser().absolute(), summary)
        if not is_quiet(args):
            print(table(summary), file=sys.stderr)
            print(f"summary: {path}", file=sys.stderr)
        return summary.exit_code

    return exit_code_of(work, "batch")
