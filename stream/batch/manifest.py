"""``DIR/batch-manifest.json``: which inputs are finished, so a rerun (after a kill, a crash) skips them.

An entry is written only after a job's outputs have their final names. A rerun skips an
input when its entry matches the file as it is now (size and modification time), the
settings that shape the outputs are the same, and every recorded output still exists;
anything else is processed again. The manifest itself is replaced atomically, so a kill
while it is written leaves the previous version.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Any

from stream.batch.jobs import Job
from stream.config.settings import Settings
from stream.core.staging import write_bytes_atomically

log = logging.getLogger(__name__)

NAME = "batch-manifest.json"
VERSION = 1
PER_FILE_KEYS = ("source", "output", "headless", "mode")  # set per job by the batch itself


def settings_fingerprint(settings: Settings, ext: str, depth: str | None) -> str:
    """A short hash of everything that changes what is written (model, colours, codec, probes, formats); not the paths."""
    data = settings.model_dump(mode="json", exclude=set(PER_FILE_KEYS))
    data["display"].pop("progress", None)
    data["model"]["threads"] = type(settings.model).model_fields["threads"].default  # how many threads changes no output
    data["batch"] = {"ext": ext, "depth": depth}
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


class Manifest:
    """The finished inputs of one output folder, keyed by their path under the mirrored root."""

    def __init__(self, folder: Path, fingerprint: str) -> None:
        self.path = folder / NAME
        self.folder = folder
        self.fingerprint = fingerprint
        self.entries: dict[str, dict[str, Any]] = self._read()

    def _read(self) -> dict[str, dict[str, Any]]:
        if not self.path.exists():
            return {}
        try:
            data = json.loads(self.path.read_text())
            entries = data["files"]
            if data.get("version") != VERSION or not isinstance(entries, dict):
                raise ValueError("unknown version")
            return entries
        except (OSError, ValueError, KeyError, TypeError):
            log.warning("note: %s is unreadable; every input is processed again", self.path)
            return {}

    def is_done(self, job: Job) -> bool:
        entry = self.entries.get(job.key)
        if entry is None:
            return False
        same = (entry.get("size"), entry.get("mtime_ns"), entry.get("settings")) == (job.size, job.mtime_ns, self.fingerprint)
        return same and all((self.folder / name).exists() for name in entry.get("outputs", []))

    def record(self, job: Job, outputs: list[Path], frames: int, seconds: float) -> None:
        """Mark ``job`` finished (its outputs already renamed) and save the manifest."""
        self.entries[job.key] = {
            "input": str(job.input), "size": job.size, "mtime_ns": job.mtime_ns, "settings": self.fingerprint,
            "outputs": [path.relative_to(self.folder).as_posix() for path in outputs], "frames": frames,
            "seconds": round(seconds, 3),
        }
        document = {"version": VERSION, "files": self.entries}
        write_bytes_atomically(self.path, (json.dumps(document, indent=1) + "\n").encode())
