"""The command line of one run: flags -> settings -> ``run`` with the frontend it was given -> summary, exit code.

The flags are the one table in ``stream.config.flags``. Which frontend a run gets (a window,
the web page, none) is the caller's choice (``stream.launch``): this package knows none of
them. Errors become exit codes (2 = bad input, 1 = runtime failure, 130/143 = stopped by
SIGINT/SIGTERM).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from stream import __version__
from stream.config.flags import FLAGS, add_flags, overrides_from, probe_point, settings_from
from stream.config.settings import Settings
from stream.core.logs import exit_code_of, is_quiet, with_our_logging
from stream.runtime.frontend import Frontend
from stream.runtime.result import summary
from stream.runtime.run import run

#: the frontend for a run's settings (``stream.launch`` picks the window or the page)
FrontendChoice = Callable[[Settings], Frontend]

__all__ = ["FLAGS", "build_parser", "main", "overrides_from", "probe_point", "run_cli"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="depth-stream",
        description="Live monocular depth: the picture beside an Inferno depth map, from a webcam, file or stream.",
        epilog="Every config.yaml key can also be set with --set KEY=VALUE (e.g. --set capture.queue_size=2). "
               "`depth-stream batch --help`: many files on Ray.",
    )
    add_flags(parser, FLAGS)
    parser.add_argument("--version", action="version", version=f"depth-stream {__version__}")
    return parser


def main(argv: Sequence[str] | None = None, choose_frontend: FrontendChoice | None = None) -> int:
    """``depth-stream [FLAGS]``; without ``choose_frontend`` every run is headless."""
    args = build_parser().parse_args(sys.argv[1:] if argv is None else list(argv))
    return with_our_logging(args, lambda parsed: run_cli(parsed, choose_frontend))


def run_cli(args: argparse.Namespace, choose_frontend: FrontendChoice | None = None) -> int:
    def work() -> int:
        settings = settings_from(args)
        result = run(settings, frontend=choose_frontend(settings) if choose_frontend is not None else None)
        if not is_quiet(args):
            print(summary(result), file=sys.stderr)
        return result.exit_code

    return exit_code_of(work, "run")
