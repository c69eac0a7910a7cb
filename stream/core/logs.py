"""The one logging set-up of the command lines: our notes at INFO, libraries only when something is wrong."""

from __future__ import annotations

import argparse
import logging
from collections.abc import Callable


def is_quiet(args: argparse.Namespace) -> bool:
    """``-q`` is in the flag table as "display.progress = false"; it also hides notes and the summary."""
    return getattr(args, "quiet", None) is not None


def with_our_logging(args: argparse.Namespace, body: Callable[[argparse.Namespace], int]) -> int:
    """Our own notes at INFO (ERROR with ``-q``); libraries (onnxruntime's quantiser logs to the
    root logger at INFO) only when something is wrong. Restored afterwards so in-process
    callers (the tests) keep their own logging set-up."""
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    ours = logging.getLogger("stream")
    previous_level = ours.level
    ours.setLevel(logging.ERROR if is_quiet(args) else logging.INFO)
    try:
        return body(args)
    finally:
        ours.setLevel(previous_level)
