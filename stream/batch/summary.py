"""What became of every input: ``DIR/batch-summary.json`` and the table printed at the end.

Each file is ``done`` (written now), ``skipped`` (finished by an earlier run, per the
manifest), ``failed`` (with its one-line error) or ``not run`` (the batch was stopped
first). The exit code follows: 0 all done or skipped, 1 some failed, 130/143 stopped.
"""

from __future__ import annotations

import json
import signal
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from stream.core.staging import write_bytes_atomically

NAME = "batch-summary.json"
SIGNAL_EXIT_CODES: dict[int, int] = {signal.SIGINT: 130, signal.SIGTERM: 143}


@dataclass
class FileResult:
    """One input's outcome; ``frames`` and ``seconds`` are the worker's own (file open to last output renamed)."""

    key: str
    status: str  # done | skipped | failed | not run
    frames: int = 0
    seconds: float = 0.0
    error: str | None = None
    outputs: list[str] = field(default_factory=list)
    node: str | None = None  # the worker's host name
    node_id: str | None = None  # its Ray node id, shortened: two raylets on one host share the name

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0


@dataclass
class BatchSummary:
    """The whole batch: per-file results, wall time, how it was run and whether it was stopped."""

    results: list[FileResult]
    seconds: float
    actors: int
    threads_per_actor: int
    stopped_by: int | None = None

    def count(self, status: str) -> int:
        return sum(1 for result in self.results if result.status == status)

    @property
    def frames(self) -> int:
        return sum(result.frames for result in self.results if result.status == "done")

    @property
    def exit_code(self) -> int:
        if self.stopped_by is not None:
            return SIGNAL_EXIT_CODES.get(self.stopped_by, 130)
        return 1 if self.count("failed") else 0

    def totals(self) -> dict[str, Any]:
        fps = self.frames / self.seconds if self.seconds > 0 else 0.0
        return {"files": len(self.results), **{status.replace(" ", "_"): self.count(status) for status in ("done", "skipped", "failed", "not run")},
                "frames": self.frames, "seconds": round(self.seconds, 3), "fps": round(fps, 2)}

    def document(self) -> dict[str, Any]:
        stopped = None if self.stopped_by is None else signal.Signals(self.stopped_by).name
        files = [{**asdict(result), "seconds": round(result.seconds, 3), "fps": round(result.fps, 2)} for result in self.results]
        return {"finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "stopped_by": stopped, "exit_code": self.exit_code,
                "actors": self.actors, "threads_per_actor": self.threads_per_actor, "totals": self.totals(), "files": files}


def write_summary(folder: Path, summary: BatchSummary) -> Path:
    path = folder / NAME
    write_bytes_atomically(path, (json.dumps(summary.document(), indent=1) + "\n").encode())
    return path


def node_text(result: FileResult) -> str:
    """``host node-id`` of the worker that did the file (``-`` for one skipped or not run)."""
    return " ".join(part for part in (result.node, result.node_id) if part) or "-"


def table(summary: BatchSummary, width: int = 40) -> str:
    """Per file: status, frames, fps, the node that did it, and the error of a failed one; then the totals."""
    where = max([len("node"), *(len(node_text(result)) for result in summary.results)])
    lines = [f"{'file':<{width}} {'status':<8} {'frames':>7} {'fps':>7}  {'node':<{where}}  error"]
    for result in summary.results:
        name = result.key if len(result.key) <= width else "..." + result.key[-(width - 3):]
        fps = f"{result.fps:.1f}" if result.status == "done" else "-"
        lines.append(f"{name:<{width}} {result.status:<8} {result.frames:>7} {fps:>7}  {node_text(result):<{where}}  "
                     f"{result.error or ''}".rstrip())
    totals = summary.totals()
    lines.append(f"{len(summary.results)} files: {totals['done']} done, {totals['skipped']} skipped, {totals['failed']} failed"
                 + (f", {totals['not_run']} not run" if totals["not_run"] else "")
                 + f"; {totals['frames']} frames in {summary.seconds:.1f} s ({totals['fps']:.1f} frames/s overall)")
    if summary.stopped_by is not None:
        lines.append(f"stopped by {signal.Signals(summary.stopped_by).name}: unfinished files left no output; "
                     "run the same command again to continue")
    return "\n".join(lines)
