"""What both command lines share: the logging set-up (our notes at INFO, libraries only when
something is wrong) and the rule that a user's mistake is one ``error:`` line and its exit code."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable

from stream.core.errors import DepthStreamError


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


def exit_code_of(work: Callable[[], int], what: str) -> int:
    """Run a command's ``work``: a user's mistake is one ``error:`` line and its exit code (2 bad
    input, 1 runtime failure); Ctrl-C before ``what`` started writes nothing and is 130."""
    try:
        return work()
    except DepthStreamError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"error: interrupted before the {what} started; nothing was written", file=sys.stderr)
        return 130
