"""Where uploads and their results live: one private temporary folder per server, one subfolder per upload.

Every name on disk is chosen by the server (random ids, fixed file names), so a client's
file name is never a path: nothing can escape the folder or overwrite anything. A client's
name only ever becomes the *download* name, sanitised (``download_name``). An entry's
results are deleted once each has been downloaded, or ``keep_seconds`` after they were
ready, whichever comes first; an entry still being uploaded or processed never expires.
The whole folder goes when the server stops. The store is shared by the event loop and
the job worker thread, so one lock guards its table.
"""

from __future__ import annotations

import re
import secrets
import shutil
import tempfile
import threading
import time
import unicodedata
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")
MAX_STEM = 60


def download_name(client_name: str | None, suffix: str, fallback: str = "upload") -> str:
    """``My photo (1).JPG`` + ``-depth.png`` -> ``My_photo_1-depth.png``: ASCII letters, digits, ``._-`` only."""
    name = urllib.parse.unquote(client_name or "")  # some clients percent-encode the name (aiohttp does)
    stem = Path(name.replace("\\", "/")).stem  # an old browser may send C:\\path\\name.jpg
    ascii_stem = unicodedata.normalize("NFKD", stem).encode("ascii", "ignore").decode("ascii")
    clean = SAFE_NAME.sub("_", ascii_stem).strip("._-")[:MAX_STEM]
    return f"{clean or fallback}{suffix}"


def shown_name(client_name: str | None, fallback: str) -> str:
    """The client's file name as the user knows it (``My photo (1).JPG``): its last part, for messages, never a path."""
    name = Path(urllib.parse.unquote(client_name or "").replace("\\", "/")).name
    return name.strip() or fallback


@dataclass
class Stored:
    """A result file: where it is and the name a download gets."""

    path: Path
    download: str


@dataclass
class Entry:
    """One upload's subfolder and the results offered from it."""

    id: str
    folder: Path
    files: dict[str, Stored] = field(default_factory=dict)
    expires_at: float | None = None  # None while uploading/processing: never expires then

    def path(self, name: str) -> Path:
        """A server-chosen file name inside this entry's folder."""
        return self.folder / name


class UploadStore:
    """The server's temporary folder: entries by id, results by name, expiry."""

    def __init__(self, parent: Path | None, keep_seconds: float) -> None:
        self.parent = parent
        self.keep_seconds = keep_seconds
        self.root: Path | None = None
        self._entries: dict[str, Entry] = {}
        self._lock = threading.Lock()

    def open(self) -> Path:
        """Create the private folder (0700, a fresh name: nothing existing is ever reused)."""
        self.root = Path(tempfile.mkdtemp(prefix="depth-stream-uploads-", dir=self.parent))
        return self.root

    def close(self) -> None:
        """Remove the folder and everything in it (the server is stopping)."""
        with self._lock:
            self._entries.clear()
            root, self.root = self.root, None
        if root is not None:
            shutil.rmtree(root, ignore_errors=True)

    def create(self) -> Entry:
        """A new entry with its own empty subfolder (a random id no one can guess or collide with)."""
        if self.root is None:
            raise RuntimeError("the upload store is not open")
        while True:
            entry_id = secrets.token_hex(8)
            folder = self.root / entry_id
            try:
                folder.mkdir()
            except FileExistsError:
                continue
            entry = Entry(entry_id, folder)
            with self._lock:
                self._entries[entry_id] = entry
            return entry

    def get(self, entry_id: str) -> Entry | None:
        with self._lock:
            return self._entries.get(entry_id)

    def offer(self, entry: Entry, files: dict[str, Stored]) -> None:
        """The entry's results are ready: offered for download, deleted after ``keep_seconds``."""
        with self._lock:
            entry.files.update(files)
            entry.expires_at = time.monotonic() + self.keep_seconds

    def lookup(self, entry_id: str, name: str) -> Stored | None:
        with self._lock:
            entry = self._entries.get(entry_id)
            return entry.files.get(name) if entry is not None else None

    def downloaded(self, entry_id: str, name: str) -> None:
        """One result was downloaded in full: delete it, and the entry once none is left."""
        with self._lock:
            entry = self._entries.get(entry_id)
            stored = entry.files.pop(name, None) if entry is not None else None
            empty = entry is not None and not entry.files
        if stored is not None:
            stored.path.unlink(missing_ok=True)
        if empty:
            self.discard(entry_id)

    def discard(self, entry_id: str) -> None:
        """Forget an entry and delete its folder (a failed or abandoned upload, a finished download)."""
        with self._lock:
            entry = self._entries.pop(entry_id, None)
        if entry is not None:
            shutil.rmtree(entry.folder, ignore_errors=True)

    def expire(self, now: float | None = None) -> list[str]:
        """Delete every entry whose time is up; returns their ids."""
        now = time.monotonic() if now is None else now
        with self._lock:
            due = [key for key, entry in self._entries.items() if entry.expires_at is not None and entry.expires_at <= now]
        for entry_id in due:
            self.discard(entry_id)
        return due
