"""The OpenCV window sink, and the check that a display exists before OpenCV touches it.

Moved here unchanged from ``stream/sinks.py`` (the window is being replaced separately).
"""

from __future__ import annotations

import logging
import os
import socket
import sys
import threading
import time
from pathlib import Path

import cv2
import numpy as np

from stream.errors import OutputError
from stream.frames import Closing, Frame

log = logging.getLogger(__name__)


def _x_display_reachable(display: str, timeout: float = 1.0) -> bool:
    """Whether an X server answers at ``display`` (``[host]:N[.S]``), without touching Qt.

    OpenCV's Qt backend aborts the whole process when it cannot open the display, so we
    look for the server's socket first.
    """
    host, _, rest = display.rpartition(":")
    try:
        number = int(rest.split(".")[0])
    except ValueError:
        return False
    if host in ("", "unix"):
        candidates = [f"/tmp/.X11-unix/X{number}"]
        if sys.platform.startswith("linux"):
            candidates.insert(0, f"\0/tmp/.X11-unix/X{number}")  # the abstract socket Xorg also listens on
        for address in candidates:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.settimeout(timeout)
                try:
                    sock.connect(address)
                    return True
                except OSError:
                    continue
        return False
    try:
        with socket.create_connection((host, 6000 + number), timeout=timeout):
            return True
    except OSError:
        return False


def require_display() -> None:
    """Raise ``OutputError`` unless a window can be opened (checked before OpenCV tries)."""
    if sys.platform in ("darwin", "win32"):
        return
    display = os.environ.get("DISPLAY", "")
    if not display:
        raise OutputError("no display to open a window on (DISPLAY is not set); run with --headless (add --output out.mp4 to keep the result)")
    if not _x_display_reachable(display):
        raise OutputError(f"cannot open display {display} (no X server answers); run with --headless (add --output out.mp4 to keep the result)")


class WindowSink(Closing):
    """An OpenCV window: ``q``/Esc (or closing the window) quits, ``s`` saves a PNG snapshot.

    The display is checked before OpenCV touches it. The window lives in its own thread,
    which makes every GUI call (Qt hangs when a window is drawn or destroyed from a thread
    other than the one that created it) and keeps the window responsive between frames;
    ``write`` and ``close`` may be called from any thread. ``write`` waits (briefly) until
    its frame is on screen, so frames are shown in order and ``frames_shown`` is exact.
    """

    def __init__(self, title: str = "depth stream", snapshot_dir: Path = Path("snapshots"),
                 open_timeout: float = 10.0) -> None:
        require_display()
        self.title = title
        self.snapshot_dir = Path(snapshot_dir)
        self.quit_requested = False
        self.snapshots: list[Path] = []
        self.frames_shown = 0
        self._written = 0
        self._last: np.ndarray | None = None
        self._pending: np.ndarray | None = None
        self._error: str | None = None
        self._closing = False
        self._closed = False
        self._cond = threading.Condition()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._gui_loop, name="window", daemon=True)
        self._thread.start()
        if not self._ready.wait(open_timeout):
            raise OutputError(f"the window did not open within {open_timeout:g}s; run with --headless")
        if self._error is not None:
            raise OutputError(f"cannot open a window ({self._error}); run with --headless")

    def _gui_loop(self) -> None:
        try:
            cv2.namedWindow(self.title, cv2.WINDOW_NORMAL | cv2.WINDOW_KEEPRATIO)
        except cv2.error as exc:
            self._error = str(exc).strip().splitlines()[-1] if str(exc).strip() else "OpenCV error"
            self._ready.set()
            return
        self._ready.set()
        sized = False
        try:
            while True:
                with self._cond:
                    if self._pending is None and not self._closing:
                        self._cond.wait(0.02)
                    image, self._pending = self._pending, None
                    closing = self._closing
                if image is not None:
                    if not sized:
                        cv2.resizeWindow(self.title, image.shape[1], image.shape[0])
                        sized = True
                    cv2.imshow(self.title, image)
                    with self._cond:
                        self._last = image
                        self.frames_shown += 1
                        self._cond.notify_all()
                if closing:
                    break
                self.handle_key(cv2.waitKey(1))
                if sized and cv2.getWindowProperty(self.title, cv2.WND_PROP_VISIBLE) < 1:
                    self.quit_requested = True
        except Exception as exc:  # noqa: BLE001 - handed to the writer as an OutputError
            self._error = f"{type(exc).__name__}: {str(exc).strip().splitlines()[-1] if str(exc).strip() else ''}"
        finally:
            with self._cond:
                self._cond.notify_all()
            try:
                cv2.destroyWindow(self.title)
                cv2.waitKey(1)
            except cv2.error:
                pass

    def write(self, frame: Frame) -> None:
        if self._error is not None:
            raise OutputError(f"the window failed ({self._error}); run with --headless")
        if self._closed or not self._thread.is_alive():
            raise OutputError("the window is closed; run with --headless to keep processing without it")
        with self._cond:
            self._written += 1
            target = self._written
            self._pending = frame.image
            self._cond.notify_all()
            self._cond.wait_for(lambda: self.frames_shown >= target or self._error is not None
                                or not self._thread.is_alive(), timeout=2.0)

    def handle_key(self, key: int) -> None:
        """React to a key code from ``cv2.waitKey`` (-1: none)."""
        if key < 0:
            return
        key &= 0xFF
        if key in (ord("q"), ord("Q"), 27):
            self.quit_requested = True
        elif key in (ord("s"), ord("S")):
            self.save_snapshot()

    def save_snapshot(self) -> Path | None:
        """Save the image on screen as a timestamped PNG; a failure is logged, not fatal."""
        image = self._last
        if image is None:
            return None
        stamp = time.strftime("%Y%m%d-%H%M%S")
        path = self.snapshot_dir / f"depth-{stamp}-{int(time.time() * 1000) % 1000:03d}-{len(self.snapshots):03d}.png"
        try:
            self.snapshot_dir.mkdir(parents=True, exist_ok=True)
            saved = cv2.imwrite(str(path), image)
        except (OSError, cv2.error) as exc:
            log.warning("could not save snapshot %s: %s", path, exc)
            return None
        if not saved:
            log.warning("could not save snapshot %s; check that %s is writable", path, self.snapshot_dir)
            return None
        self.snapshots.append(path)
        log.info("saved snapshot %s", path)
        return path

    def close(self) -> None:
        """Close the window (from any thread); idempotent."""
        if self._closed:
            return
        self._closed = True
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        self._thread.join(5.0)
        if self._thread.is_alive():
            log.warning("the window thread did not stop within 5s; leaving it to exit with the app")
