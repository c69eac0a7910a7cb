#!/usr/bin/env python3
"""depth stream: live monocular depth (MiDaS v2.1 small, ONNX Runtime, CPU).

Thin entry point: parse flags, merge them over config.yaml, run, map errors to exit codes
(2 = bad input, 1 = runtime failure, 130/143 = interrupted by SIGINT/SIGTERM).
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any

DEFAULT_CONFIG = Path(__file__).resolve().parent / "config.yaml"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="run_stream.py",
        description="Live monocular depth: the picture beside an Inferno depth map, from a webcam, file or stream.",
        epilog="Every config.yaml key can also be set with --set KEY=VALUE (e.g. --set capture.queue_size=2).",
    )
    parser.add_argument("--source", help="webcam index (0), video file, URL (rtsp/http/udp) or 'synthetic' [config: source]")
    parser.add_argument("--output", type=Path, help="write the annotated side-by-side video here (.mp4/.mkv/...) [config: output]")
    parser.add_argument("--model", type=Path, help="run this ONNX depth model (NCHW float input) instead of MiDaS [config: model.onnx]")
    parser.add_argument("--weights", type=Path, help="local MiDaS v2.1 small .pt checkpoint (skips the download) [config: model.weights]")
    parser.add_argument("--config", type=Path, default=None, help=f"YAML settings file (default: {DEFAULT_CONFIG.name} beside this script)")
    parser.add_argument("--headless", action="store_true", default=None, help="no window (for servers; combine with --output) [config: headless]")
    parser.add_argument("--realtime", action="store_true", default=None, help="treat a file like a live source: drop frames to keep up [config: realtime]")
    parser.add_argument("--threads", type=int, help="ONNX Runtime intra-op threads, 0 = automatic [config: model.threads]")
    parser.add_argument("--precision", choices=["fp32", "int8"], help="int8 = statically quantised model, faster [config: model.precision]")
    parser.add_argument("--colormap", help="inferno, magma, plasma, viridis, turbo, jet or gray [config: display.colormap]")
    parser.add_argument("--max-frames", type=int, help="stop after this many frames [config: max_frames]")
    parser.add_argument("--cache-dir", type=Path, help="where weights and exported models are cached [config: model.cache_dir]")
    parser.add_argument("--set", dest="assignments", action="append", default=[], metavar="KEY=VALUE", help="override any config key")
    parser.add_argument("-q", "--quiet", action="store_true", help="only errors")
    return parser


def overrides_from(args: argparse.Namespace) -> dict[str, Any]:
    from stream.config import deep_merge, parse_assignment

    flat = {
        ("source",): args.source,
        ("output",): args.output,
        ("headless",): args.headless,
        ("realtime",): args.realtime,
        ("max_frames",): args.max_frames,
        ("model", "onnx"): args.model,
        ("model", "weights"): args.weights,
        ("model", "threads"): args.threads,
        ("model", "precision"): args.precision,
        ("model", "cache_dir"): args.cache_dir,
        ("display", "colormap"): args.colormap,
        ("display", "progress"): False if args.quiet else None,
    }
    result: dict[str, Any] = {}
    for assignment in args.assignments:
        result = deep_merge(result, parse_assignment(assignment))
    for path, value in flat.items():
        if value is None:
            continue
        cursor = result
        for part in path[:-1]:
            cursor = cursor.setdefault(part, {})
        cursor[path[-1]] = value
    return result


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # our own progress notes at INFO; libraries (onnxruntime's quantiser logs to the root
    # logger at INFO) only when something is wrong. The level is restored afterwards so an
    # in-process caller (the tests) keeps its own logging set-up.
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    ours = logging.getLogger("stream")
    previous_level = ours.level
    ours.setLevel(logging.ERROR if args.quiet else logging.INFO)
    try:
        return run_cli(args)
    finally:
        ours.setLevel(previous_level)


def run_cli(args: argparse.Namespace) -> int:
    from stream.app import run, summary
    from stream.config import load_settings
    from stream.errors import DepthStreamError

    try:
        config = args.config if args.config is not None else (DEFAULT_CONFIG if DEFAULT_CONFIG.is_file() else None)
        settings = load_settings(config, overrides_from(args))
        result = run(settings)
    except DepthStreamError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("error: interrupted before the run started; nothing was written", file=sys.stderr)
        return 130
    if not args.quiet:
        print(summary(result), file=sys.stderr)
    return result.exit_code


if __name__ == "__main__":
    sys.exit(main())
