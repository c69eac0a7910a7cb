"""What every bench command shares at its ends: the ``--json`` flag, progress lines, the table and the JSON.

``python -m stream.bench`` and ``python -m stream.bench.batch`` start from ``bench_parser``
and end with ``publish``: the same flag, the same JSON (floats kept whole), the same
``[bench]`` lines on stderr, so their reports can be compared run to run.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any


def bench_parser(prog: str, description: str) -> argparse.ArgumentParser:
    """A bench command's parser, with the ``--json`` flag every one of them takes."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    return parser


def publish(report: dict[str, Any], table: str, path: Path | None) -> int:
    """The table on stdout and, with ``--json``, every figure in the file; the command's exit code."""
    print(table)
    write_report(report, path)
    return 0


def write_report(report: dict[str, Any], path: Path | None) -> None:
    """Every figure as JSON (``--json``), for comparing runs; nothing when no path was given."""
    if path is not None:
        path.write_text(json.dumps(report, indent=2, default=float) + "\n")
        log(f"wrote {path}")


def log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)
