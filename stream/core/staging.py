"""Temporary names for files being written: nothing half-written ever sits under its final name.

Depth exports, point clouds, photo outputs and probe CSVs are written to a hidden temporary
file in the same folder (so the final ``os.replace`` is an atomic rename on one filesystem)
and renamed only when complete; if writing fails the temporary file is removed. The
extension is kept, so writers that pick the format from the name (OpenCV, PyAV) still do.
The temporary file is created with the permissions the umask gives any new file (not
``mkstemp``'s 0600), so the renamed result is readable like any file the user writes.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import tempfile
from collections.abc import Iterator
from pathlib import Path

from stream.core.errors import OutputError
from stream.core.names import name_bytes, name_limit, shortened

log = logging.getLogger(__name__)


def temporary_for(final: Path, suffix: str | None = None) -> Path:
    """A new, unique, hidden, empty file next to ``final``, ending in ``.partial<ext>`` (or ``suffix``).

    Its name always fits the file system: a long final name is shortened (with a hash of it),
    so a name that fits is never refused only because ours is longer."""
    final = Path(final)
    ending = suffix if suffix is not None else f".partial{final.suffix}"
    room = name_limit(final.parent) - name_bytes(f"..{secrets.token_hex(4)}{ending}")
    if room < 16 and suffix is None:  # an absurdly long extension: keep the name, drop the extension
        ending = ".partial"
        room = name_limit(final.parent) - name_bytes(f"..{secrets.token_hex(4)}{ending}")
    stem = shortened(final.name, room)
    while True:
        candidate = final.with_name(f".{stem}.{secrets.token_hex(4)}{ending}")
        try:
            os.close(os.open(candidate, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        except FileExistsError:
            continue
        return candidate


class Staged:
    """A set of files written under temporary names, renamed together or removed together."""

    def __init__(self) -> None:
        self._pending: dict[Path, Path] = {}  # final -> temporary

    def path_for(self, final: Path) -> Path:
        """The temporary path to write ``final`` to (the same one if asked again)."""
        final = Path(final)
        if final not in self._pending:
            self._pending[final] = temporary_for(final)
        return self._pending[final]

    def commit(self, final: Path | None = None) -> None:
        """Rename ``final`` (or every pending file) to its final name."""
        finals = [Path(final)] if final is not None else list(self._pending)
        for name in finals:
            os.replace(self._pending.pop(name), name)

    def discard(self) -> None:
        """Remove every temporary file not yet renamed."""
        for temporary in self._pending.values():
            with contextlib.suppress(OSError):
                temporary.unlink()
        self._pending.clear()


@contextlib.contextmanager
def writing(final: Path, suffix: str | None = None) -> Iterator[Path]:
    """The one atomic write: a temporary path beside ``final`` for the block to write (a library
    that takes a file name, a download, bytes); renamed to ``final`` if the block ends without
    an error, removed otherwise. ``suffix`` replaces the ``.partial<ext>`` ending."""
    temporary = temporary_for(final, suffix)
    try:
        yield temporary
        os.replace(temporary, final)
    finally:
        with contextlib.suppress(OSError):
            temporary.unlink()


def write_bytes_atomically(final: Path, data: bytes) -> None:
    """Write ``data`` to ``final`` through a temporary name."""
    with writing(final) as temporary:
        temporary.write_bytes(data)


def check_writable_folder(folder: Path, flag: str, create: bool = True) -> None:
    """The folder ``flag``'s files go to exists and a file can really be made in it.

    The one rule for every output (``--output``, ``--depth-output``, ``--pointcloud``,
    ``--probe-csv``, a batch's ``--output-dir``): a missing folder is made, and one line says
    so (``create=False`` only checks). Otherwise ``OutputError``, one line naming the flag,
    the folder and the fix. A real
    write, not a permission check: root passes every mode check, and ACLs, read-only mounts
    and pseudo filesystems refuse what the bits allow.
    """
    folder = Path(folder)
    if create and not folder.exists() and not folder.is_symlink():
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputError(f"{flag}: folder {folder} cannot be created ({exc.strerror}); choose another {flag}") from None
        log.info("created folder %s for %s", folder, flag)
    if not folder.exists():
        raise OutputError(f"{flag}: folder {folder} does not exist; create it or choose another {flag}")
    if not folder.is_dir():
        raise OutputError(f"{flag}: {folder} is not a folder; choose another {flag}")
    try:
        fd, probe = tempfile.mkstemp(prefix=".depth-stream-", suffix=".probe", dir=folder)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise OutputError(f"{flag}: folder {folder} is not writable ({exc.strerror}); choose another {flag}") from None
