"""Output files that stay playable when the process dies or the disk fills.

A normal close finalizes any container, but ``kill -9``, an OOM kill or a power cut never
reaches ``close``: a classic MP4 keeps its index (``moov``) in memory until the end, so the
whole recording is lost. Every output is therefore written so that what is on disk is
always a playable file, short of at most the last ~2 s:

- **.mp4 / .mov: fragmented MP4** (``movflags=frag_keyframe+empty_moov+default_base_moof``,
  ``frag_duration`` 1 s). The header carries an empty index and each fragment (``moof`` +
  ``mdat``) describes itself, so a file cut after any fragment plays. It is plain ISO BMFF,
  the format DASH/HLS and Media Source Extensions use: it plays in Chrome, Firefox, Safari,
  Edge, VLC, mpv, QuickTime and ffmpeg-based tools; a normal close also writes the ``mfra``
  random-access index, so the finished file seeks and reports its duration. Kept over
  Matroska for .mp4 because a user who asks for .mp4 wants what browsers and phones open.
- **.mkv / .webm: Matroska clusters** of at most 1 s (``cluster_time_limit``). Each cluster
  is complete when written; a killed file lacks only its cue index and final sizes, which
  players (and ffmpeg) do without. WebM plays in Chrome, Firefox, Edge and VLC.
- **.avi**: chunks go out as they come and the index (``idx1``) is written at the end;
  ffmpeg and VLC read a killed AVI without it (tested), although some players may not seek it.

A keyframe every second (``KEYFRAME_SECONDS``; fragments and clusters start on them) bounds
what a kill can lose to that second plus the encoder's look-ahead (a few B-frames with x264 ``superfast``; ~0.5 s with ``veryfast``).
``flush_packets=1`` hands every finished fragment/cluster to the kernel at once instead of
leaving it in FFmpeg's 32 KiB I/O buffer; a background thread ``fdatasync``s the file every
``SYNC_SECONDS`` so a power cut loses no more than a kill does.

A full disk (ENOSPC), a quota (EDQUOT) or a file-size limit (EFBIG) raises one
``OutputWriteError`` (exit 1); the torn tail (a fragment half written when the space ran out) is cut
back to the last complete one, so the file on disk plays up to where the disk filled.
"""

from __future__ import annotations

import errno
import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from stream.core.errors import OutputError, OutputWriteError
from stream.core.media import ffmpeg_name

log = logging.getLogger(__name__)

KEYFRAME_SECONDS = 1.0
SYNC_SECONDS = 2.0
DATA_SYNC: Callable[[int], None] = getattr(os, "fdatasync", os.fsync)  # fdatasync: Linux; fsync: macOS, Windows
FORMATS = {".mp4": "mp4", ".mov": "mov", ".mkv": "matroska", ".webm": "webm", ".avi": "avi"}
DISK_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EIO)


def muxer_options(path: Path) -> dict[str, str]:
    """Container options that keep the file on disk playable at every fragment/cluster."""
    options = {"flush_packets": "1"}
    muxer = FORMATS.get(Path(path).suffix.lower())
    if muxer in ("mp4", "mov"):
        options["movflags"] = "frag_keyframe+empty_moov+delay_moov+default_base_moof"
        options["frag_duration"] = str(int(KEYFRAME_SECONDS * 1_000_000))
    elif muxer in ("matroska", "webm"):
        options["cluster_time_limit"] = str(int(KEYFRAME_SECONDS * 1000))
    return options


def keyframe_interval(fps: float) -> int:
    """Frames between keyframes: one every ``KEYFRAME_SECONDS``."""
    return max(1, round(fps * KEYFRAME_SECONDS))


def write_error_message(path: Path, exc: OSError) -> str:
    """One line naming what went wrong while writing ``path`` and what to do."""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return f"disk full while writing {path}; free space or choose another --output"
    if exc.errno == errno.EFBIG:
        return (f"{path} reached the largest file this filesystem or process allows; "
                "split the run or choose another --output (FAT32 stops at 4 GiB)")
    return f"writing {path} failed ({exc.strerror or exc}); choose another --output"


class DiskSync:
    """Flushes a file's written bytes to the disk every ``interval`` seconds, off the writer's thread.

    ``fdatasync`` may take tens of milliseconds; doing it in the writing thread would stall
    the display. Any descriptor of a file syncs all of its data, so we open our own.
    """

    def __init__(self, path: Path, interval: float = SYNC_SECONDS, sync: Callable[[int], None] = DATA_SYNC) -> None:
        self.path = path
        self.interval = interval
        self._sync = sync
        self.fd = os.open(path, os.O_WRONLY)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="output-sync", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            if not self.sync_now():
                return

    def sync_now(self) -> bool:
        """Sync once; False (and one warning) if the file system refuses."""
        try:
            self._sync(self.fd)
        except OSError as exc:
            log.warning("cannot sync %s to disk (%s); a power cut may lose more of it", self.path, exc.strerror)
            return False
        return True

    def size(self) -> int:
        return os.fstat(self.fd).st_size

    def truncate(self, size: int) -> None:
        os.ftruncate(self.fd, size)

    def close(self, final_sync: bool = True) -> None:
        """Stop the thread, sync a last time (a finished file survives a power cut too), close."""
        self._stop.set()
        self._thread.join(5.0)
        if self._thread.is_alive():
            log.warning("syncing %s to disk has taken over 5 s; leaving it to finish", self.path)
            return
        if final_sync:
            self.sync_now()
        os.close(self.fd)


class SafeContainer:
    """A PyAV output container whose file is playable at any moment (see the module docstring).

    ``mux`` turns a write error into one ``OutputWriteError`` and remembers the file's length
    after every packet that went through; after an error, ``close`` finalizes what it can
    and cuts the file back to that length, so no torn fragment is left at its end.
    """

    def __init__(self, path: Path, sync_interval: float = SYNC_SECONDS) -> None:
        import av

        self.path = Path(path)
        self.sync_interval = sync_interval
        try:
            self.container: Any = av.open(ffmpeg_name(self.path), mode="w", container_options=muxer_options(self.path))
        except (av.error.FFmpegError, OSError, ValueError) as exc:
            raise OutputError(f"cannot create {self.path} ({exc}); choose another --output") from None
        self.failed: OutputWriteError | None = None
        self._disk: DiskSync | None = None
        self._good_size = 0

    def start(self) -> None:
        """Write the header (streams must all be added); from here on the file plays.

        A muxer refusing a stream raises as PyAV has it (the caller may retry without it);
        a disk that cannot take the header raises ``OutputWriteError``.
        """
        try:
            self.container.start_encoding()
        except OSError as exc:
            if exc.errno in DISK_ERRNOS:
                raise OutputWriteError(write_error_message(self.path, exc)) from None
            raise
        self._disk = DiskSync(self.path, self.sync_interval)
        self._good_size = self._disk.size()

    def mux(self, packet: Any) -> None:
        if self.failed is not None:
            raise self.failed
        try:
            self.container.mux(packet)
        except OSError as exc:
            self.failed = OutputWriteError(write_error_message(self.path, exc))
            raise self.failed from None
        if self._disk is not None:
            self._good_size = self._disk.size()

    def close(self) -> None:
        """Write the trailer (index, sizes); after a write error, keep only what was whole."""
        try:
            self.container.close()
        except OSError as exc:
            if self.failed is None:
                self.failed = OutputWriteError(write_error_message(self.path, exc))
                self._finish()
                raise self.failed from None
        self._finish()

    def _finish(self) -> None:
        if self._disk is None:
            return
        disk, self._disk = self._disk, None
        if self.failed is not None and disk.size() > self._good_size:
            disk.truncate(self._good_size)
        disk.close()

    def discard(self) -> None:
        """Close a container that never started (its file is rewritten by the next attempt)."""
        try:
            self.container.close()
        except Exception:  # noqa: BLE001 - the first error is the one to report
            pass
        self._finish()
