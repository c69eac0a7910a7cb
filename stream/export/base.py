"""What every depth writer shares: temporary names, failure handling, closing exactly once.

A subclass writes each frame in ``_write`` (to paths from ``self.staged``) and completes the
file in ``_finish``; ``close`` then renames everything to its final name. If writing fails
the writer is marked failed, its temporary files are removed and the error becomes one
line (``OutputWriteError``, exit 1); a later ``close`` renames nothing. A run stopped early
(Ctrl-C, a source cut short) closes normally: the frames written so far make a complete file.
"""

from __future__ import annotations

from pathlib import Path

from stream.core.errors import OutputWriteError
from stream.core.frames import Closing, DepthFrame, Normalised
from stream.core.staging import Staged


class DepthFileSink(Closing):
    """Base of the depth writers (a ``DepthSink``): one output path, written atomically."""

    flag = "--depth-output"  # named in error messages

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.staged = Staged()
        self.frames_written = 0
        self.failed = False
        self._closed = False

    def write_depth(self, item: DepthFrame, normalised: Normalised) -> None:
        if self._closed or self.failed:
            return
        try:
            self._write(item, normalised)
        except Exception as exc:
            self.failed = True
            self._give_up()
            raise self._error(exc) from exc
        self.frames_written += 1

    def close(self) -> None:
        """Complete and rename the output (nothing if no frame came or writing failed)."""
        if self._closed:
            return
        self._closed = True
        try:
            if not self.failed and self.frames_written:
                self._finish()
                self.staged.commit()
        except Exception as exc:
            self.failed = True
            raise self._error(exc) from exc
        finally:
            self._give_up()

    def __exit__(self, *exc: object) -> None:
        if exc and exc[0] is not None:
            self.failed = True
        self.close()

    def _give_up(self) -> None:
        self._release()
        self.staged.discard()

    def _error(self, exc: BaseException) -> OutputWriteError:
        reason = getattr(exc, "strerror", None) or (str(exc).splitlines() or [type(exc).__name__])[0]
        return OutputWriteError(f"cannot write depth output {self.path} ({reason}); nothing was left under that name: "
                                f"free space or choose another {self.flag}")

    # -- for subclasses --------------------------------------------------------------
    def _write(self, item: DepthFrame, normalised: Normalised) -> None:
        raise NotImplementedError

    def _finish(self) -> None:
        """Complete the temporary files (flush, write the sidecar); ``close`` renames them."""

    def _release(self) -> None:
        """Close any open handle without completing it (called after success and after failure)."""
