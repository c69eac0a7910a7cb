"""``python -m stream.batch INPUTS... --output-dir DIR`` (also ``depth-stream batch ...``).

One flag table: the single run's flags that mean the same for every file of a batch are
its own ``FLAGS`` rows (``SHARED_FLAGS``; the same config keys, config file and ``--set``);
every other row of ``FLAGS`` is in ``NOT_HERE`` with the batch's way of doing it and why,
which ``--help`` prints, so a flag added to the single run is either taken or explained.
The batch adds where outputs go, the depth format, and how Ray runs it.

Standard output carries the result (the summary table); progress and notes go to standard
error; ``-q`` leaves only errors (a failed file is one). Exit codes: 0 every file done or
skipped, 1 some failed, 2 bad arguments, 130/143 stopped by SIGINT/SIGTERM.
"""

from __future__ import annotations

import argparse
import sys
import textwrap
from collections.abc import Sequence
from pathlib import Path

from stream import __version__
from stream.config.flags import FLAGS, add_flags, settings_from
from stream.core.logs import exit_code_of, is_quiet, with_our_logging

SHARED_FLAGS = ("--model-name", "--model", "--weights", "--engine", "--precision", "--threads", "--net-size", "--colormap",
                "--normalize", "--max-frames", "--cache-dir", "--probe", "-q")  # the single run's flags that mean the same for every file
NOT_HERE = {  # the single run's other flags: what the batch does instead, and why
    "--source": "INPUTS: many files, folders and globs",
    "--output": "--output-dir DIR: each file's output is named after it, mirroring the input tree",
    "--depth-output": "--depth 16bit|raw: each file's depth file is named after it (NAME.depth.mkv/.png/.npz/.npy), "
                      "so the batch takes the format, not a path",
    "--probe-csv": "each file's probe CSV is NAME.probe.csv beside its output",
    "--pointcloud": "not in a batch (a path for one photo; use a single run per photo)",
    "--mode": "a batch reads every frame of every file (file mode); dropping frames is for cameras and streams",
    "--realtime": "as --mode",
    "--fps": "sets a webcam's or an image sequence's rate; a batch's videos carry their own",
    "--headless": "a batch never opens a window",
    "--target-fps": "what --net-size auto holds in live mode; a batch reads every frame and keeps the model's own size "
                    "with auto (a number sets it)",
    "--serve": "a batch serves no page (the page's uploads are its own queue)",
    "--serve-cert": "as --serve",
    "--serve-key": "as --serve",
    "--serve-token": "as --serve",
}
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
        description=textwrap.fill("Many videos and photos through the depth model on Ray: outputs mirror the input tree under "
                                  "--output-dir, a rerun skips finished files, one bad file never stops the rest.", 100),
        epilog=epilog(), formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("inputs", nargs="+", metavar="INPUTS", help="video or image files, folders (walked recursively), quoted globs")
    parser.add_argument("--output-dir", type=Path, required=True, metavar="DIR",
                        help="where outputs go, mirroring the input tree; also batch-summary.json and batch-manifest.json")
    parser.add_argument("--ext", choices=VIDEO_EXTS, default="mp4", help="container of the annotated videos (photos keep theirs)")
    parser.add_argument("--depth", choices=("16bit", "raw"), default=None,
                        help="keep each file's depth beside its output: 16bit = NAME.depth.mkv (video) / .png (photo) with a "
                             ".json sidecar; raw = float32 NAME.depth.npz / .npy")
    parser.add_argument("--ray-address", metavar="ADDRESS", default=None,
                        help="join a running Ray cluster instead of starting a local one: HOST:PORT = the head's address as "
                             "`ray start --head` prints it (port 6379 unless given another), from a machine in the cluster's "
                             "network; auto = the cluster `ray start` runs on this machine; ray://HOST:PORT = through Ray Client "
                             "(needs `pip install 'ray[client]'` here and the head's client server, port 10001). A cluster with "
                             "token authentication needs RAY_AUTH_MODE=token and its token (RAY_AUTH_TOKEN or ~/.ray/auth_token)")
    parser.add_argument("--actors", type=positive, metavar="N", help="model copies working at once (default: one per core, single-threaded)")
    add_flags(parser, [flag for flag in FLAGS if flag.names[0] in SHARED_FLAGS])
    parser.add_argument("--threads-per-actor", dest="threads", type=positive, help=argparse.SUPPRESS)  # the old name of --threads
    parser.add_argument("--version", action="version", version=f"depth-stream {__version__}")
    return parser


def epilog() -> str:
    """The single run's flags a batch does not take, with what it does instead (``NOT_HERE``)."""
    rows = "\n".join(textwrap.fill(why, 100, initial_indent=f"  {name:<15} ", subsequent_indent=" " * 18)
                     for name, why in NOT_HERE.items())
    return ("--threads is per actor (each actor is one engine); by default the cores are shared out among the actors.\n"
            f"The single run's other flags, and what a batch does instead:\n{rows}\n"
            "Inputs are read by the workers: on a cluster, give paths every node sees (shared storage).\n"
            "Standard output: the summary table (the result); standard error: progress and notes; -q: errors only.")


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(None if argv is None else list(argv))
    return with_our_logging(args, run_cli)


def run_cli(args: argparse.Namespace) -> int:
    from stream.batch.run import BatchOptions, run_batch
    from stream.batch.summary import table, write_summary

    def work() -> int:
        settings = settings_from(args)  # --threads is model.threads, as in a single run: here each actor's
        options = BatchOptions(args.output_dir, args.ext, args.depth, args.ray_address, args.actors, settings.model.threads or None)
        summary = run_batch(settings, args.inputs, options)
        path = write_summary(options.output_dir.expanduser().absolute(), summary)
        if is_quiet(args):  # only errors: each failed file, one line
            for result in summary.results:
                if result.status == "failed":
                    print(f"error: {result.key} failed: {result.error}", file=sys.stderr)
        else:
            print(table(summary), file=sys.stdout, flush=True)
            print(f"summary: {path}", file=sys.stderr)
        return summary.exit_code

    return exit_code_of(work, "batch")
