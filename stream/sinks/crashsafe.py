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
back to the last complete one, so the file on disk plays up to where the disk filled, and a file
with no whole frame left is removed. The bytes go through our own ``OutputFile`` rather than
FFmpeg's ``file`` protocol: FFmpeg reports a write that fails in the MP4/MOV trailer (the last
fragment, the ``mfra`` index) only when its file is closed, a result PyAV drops, so a cut MP4
would otherwise pass as finished.
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


class OutputFile:
    """The raw file PyAV writes through: every write reaches the kernel at once, and its first error is kept.

    PyAV raises an error our ``write`` raises from the call that caused it; ``error`` also keeps
    it for the close, where FFmpeg may report nothing.
    """

    def __init__(self, path: Path) -> None:
        self.name = str(path)
        self.fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
        self.error: OSError | None = None

    def write(self, data: bytes) -> int:
        view = memoryview(data)
        try:
            while view:
                view = view[os.write(self.fd, view):]
        except OSError as exc:
            self.error = self.error or exc
            raise
        return len(data)

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        return os.lseek(self.fd, offset, whence)

    def tell(self) -> int:
        return os.lseek(self.fd, 0, os.SEEK_CUR)

    def seekable(self) -> bool:
        return True

    def writable(self) -> bool:
        return True

    def close(self) -> None:
        if self.fd >= 0:
            fd, self.fd = self.fd, -1
            os.close(fd)


def plays(path: Path) -> bool:
    """Whether a video written part-way (finalized when its run failed) decodes to at least one frame."""
    import av

    try:
        with av.open(str(path)) as container:
            return next(container.decode(video=0), None) is not None
    except (av.FFmpegError, OSError, StopIteration):
        return False


class SafeContainer:
    """A PyAV output container whose file is playable at any moment (see the module docstring).

    ``mux`` turns a write error into one ``OutputWriteError`` and remembers the file's length
    after every packet that went through; after an error, ``close`` finalizes what it can
    and cuts the file back to that length, so no torn fragment is left at its end (and
    removes the file if no frame of it decodes).
    """

    def __init__(self, path: Path, sync_interval: float = SYNC_SECONDS) -> None:
        import av

        self.path = Path(path)
        self.sync_interval = sync_interval
        try:
            self.file = OutputFile(self.path)
        except OSError as exc:
            raise OutputError(f"cannot create {self.path} ({exc.strerror or exc}); choose another --output") from None
        try:
            self.container: Any = av.open(self.file, mode="w", format=FORMATS.get(self.path.suffix.lower()),
                                          container_options=muxer_options(self.path))
        except (av.error.FFmpegError, OSError, ValueError) as exc:
            self.file.close()
            self.path.unlink(missing_ok=True)
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
                self.failed = OutputWriteError(write_error_message(self.path, exc))
                raise self.failed from None
            raise
        self._disk = DiskSync(self.path, self.sync_interval)
        self._good_size = self._disk.size()

    def mux(self, packet: Any) -> None:
        if self.failed is not None:
            raise self.failed
        try:
            self.container.mux(packet)
        except Exception as exc:
            if not self._failed_writing(exc) or self.failed is None:
                raise
            raise self.failed from None
        if self._disk is not None:
            self._good_size = self._disk.size()

    def close(self) -> None:
        """Write the trailer (index, sizes); after a write error, keep only what was whole."""
        already = self.failed
        try:
            self.container.close()
        except Exception as exc:
            if not self._failed_writing(exc):
                self._finish()
                raise
        if self.failed is None and self.file.error is not None:  # the trailer's write failed, FFmpeg said nothing
            self._failed_writing(self.file.error)
        self._finish()
        if self.failed is not None and already is None:
            raise self.failed from None

    def _failed_writing(self, exc: BaseException) -> bool:
        """Whether ``exc`` means the file could not be written; the first such error becomes ``failed``.

        After our ``OutputFile`` refused a write, PyAV may report it as its own callback error.
        """
        error = self.file.error or (exc if isinstance(exc, OSError) else None)
        if error is None:
            return False
        if self.failed is None:
            self.failed = OutputWriteError(write_error_message(self.path, error))
        return True

    def _finish(self) -> None:
        self.file.close()
        disk, self._disk = self._disk, None
        if disk is not None:
            if self.failed is not None and disk.size() > self._good_size:
                disk.truncate(self._good_size)
            disk.close()
        if self.failed is not None and not plays(self.path):
            self.path.unlink(missing_ok=True)

    def discard(self) -> None:
        """Close a container that never started and remove its file (a next attempt makes it anew)."""
        try:
            self.container.close()
        except Exception:  # noqa: BLE001 - the first error is the one to report
            pass
        self._finish()
        self.path.unlink(missing_ok=True)
