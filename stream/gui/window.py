"""The window, owned by the main thread.

HighGUI must run on the main thread: macOS refuses windows elsewhere and Qt warns
("Timers cannot be stopped from another thread") when a window is touched from another
one. So the display worker never calls the GUI: it drops each composed frame into a
one-slot mailbox (``MailboxSink``; a newer frame replaces an unshown one and is counted),
and the main thread runs ``Window.run``: show the newest frame, pump events, handle keys
(``q``/Esc quit, ``s`` snapshot, ``c`` clear probes; a left click adds a depth probe, a
right click clears them), and set "cancelled" when the user quits or
closes the window. Nothing waits for the screen, so a stalled desktop costs the frames
it missed and nothing more.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from stream.core.channels import ChannelClosed, FrameChannel
from stream.core.errors import OutputError
from stream.core.frames import Closing, Frame
from stream.core.media import snapshot_name
from stream.gui.display import require_display, screen_size
from stream.view.probe import Probes

log = logging.getLogger(__name__)

KEY_POLL_MS = 1  # waitKey pumps the GUI's events; waiting happens on the mailbox instead
FRAME_WAIT_S = 0.01  # idle: wait this long for a frame before pumping events again
SCREEN_FILL = 0.9  # the window takes at most this share of the screen's width and height


class Gui(Protocol):
    """The HighGUI calls the window makes (``cv2`` itself fits; tests pass a fake)."""

    def namedWindow(self, winname: str, flags: int) -> None: ...  # noqa: N802 - OpenCV's names

    def resizeWindow(self, winname: str, width: int, height: int) -> None: ...  # noqa: N802

    def imshow(self, winname: str, mat: np.ndarray) -> None: ...

    def waitKey(self, delay: int) -> int: ...  # noqa: N802

    def getWindowProperty(self, winname: str, prop_id: int) -> float: ...  # noqa: N802

    def destroyWindow(self, winname: str) -> None: ...  # noqa: N802

    def setMouseCallback(self, winname: str, on_mouse: Callable[..., None]) -> None: ...  # noqa: N802


class MailboxSink(Closing):
    """The display worker's side: hand the newest frame to the window, never wait for it."""

    def __init__(self) -> None:
        self.mailbox: FrameChannel[Frame] = FrameChannel(1, latest=True)

    def write(self, frame: Frame) -> None:
        self.mailbox.put(frame)

    @property
    def replaced(self) -> int:
        """Frames a newer one replaced before the window could show them."""
        return self.mailbox.dropped

    def close(self) -> None:
        self.mailbox.close()


def fit_to_screen(width: int, height: int, screen: tuple[int, int] | None) -> tuple[int, int]:
    """The window size: the image's own, shrunk (aspect kept) to fit ``SCREEN_FILL`` of the screen."""
    if screen is None:
        return width, height
    scale = min(1.0, SCREEN_FILL * screen[0] / width, SCREEN_FILL * screen[1] / height)
    return max(1, round(width * scale)), max(1, round(height * scale))


def quiet_qt() -> None:
    """Keep OpenCV's Qt build from printing font-directory warnings on every run.

    The wheel's Qt looks for fonts beside itself (there are none) unless told where they
    are; point it at the system's fonts. Only set when the user has not chosen.
    """
    if "QT_QPA_FONTDIR" in os.environ or not sys.platform.startswith("linux"):
        return
    for root in ("/usr/share/fonts/truetype/dejavu", "/usr/share/fonts/truetype", "/usr/share/fonts"):
        folder = Path(root)
        if folder.is_dir() and any(folder.glob("*.tt[fc]")):
            os.environ["QT_QPA_FONTDIR"] = root
            return
    for font in Path("/usr/share/fonts").rglob("*.ttf") if Path("/usr/share/fonts").is_dir() else ():
        os.environ["QT_QPA_FONTDIR"] = str(font.parent)
        return


class Window:
    """An OpenCV window sized to the screen, without the Qt toolbar, driven from the main thread."""

    def __init__(self, title: str = "depth stream", snapshot_dir: Path = Path("snapshots"), gui: Any = None,
                 screen: tuple[int, int] | None = None, probes: Probes | None = None,
                 save_cloud: Callable[[], Path | None] | None = None) -> None:
        if gui is None:
            require_display()
            quiet_qt()
            import cv2

            gui = cv2
            screen = screen or screen_size()
        self.gui: Any = gui
        self.title = title
        self.snapshot_dir = Path(snapshot_dir)
        self.screen = screen
        self.probes = probes
        self.save_cloud = save_cloud  # the ``p`` key
        self.frames_shown = 0
        self.snapshots: list[Path] = []
        self.quit_requested = False
        self._last: np.ndarray | None = None
        self._opened = False
        self._sized = False

    def open(self) -> None:
        import cv2

        try:
            self.gui.namedWindow(self.title, cv2.WINDOW_NORMAL | cv2.WINDOW_KEEPRATIO | cv2.WINDOW_GUI_NORMAL)
        except cv2.error as exc:
            raise OutputError(f"cannot open a window ({_last_line(exc)}); run with --headless") from None
        self._opened = True
        if self.probes is not None:
            self.gui.setMouseCallback(self.title, self.on_mouse)

    def show(self, image: np.ndarray) -> None:
        if not self._sized:
            width, height = fit_to_screen(image.shape[1], image.shape[0], self.screen)
            self.gui.resizeWindow(self.title, width, height)
            self._sized = True
        self.gui.imshow(self.title, image)
        self._last = image
        self.frames_shown += 1

    def run(self, mailbox: FrameChannel[Frame], stop: threading.Event, working: Callable[[], bool]) -> None:
        """Show frames until ``stop`` is set, the user quits, or the workers are done and the mailbox is empty.

        Opens the window if needed and always closes it.
        """
        import cv2

        if not self._opened:
            self.open()
        try:
            while not stop.is_set():
                still_working = working()  # asked first: a frame put after this is still seen below
                try:
                    frame = mailbox.get(timeout=FRAME_WAIT_S)
                except ChannelClosed:
                    break
                if frame is not None:
                    self.show(frame.image)
                elif not still_working:
                    break
                self.handle_key(self.gui.waitKey(KEY_POLL_MS))
                if self._sized and self.gui.getWindowProperty(self.title, cv2.WND_PROP_VISIBLE) < 1:
                    self.quit_requested = True
                if self.quit_requested:
                    stop.set()
        except cv2.error as exc:
            stop.set()
            raise OutputError(f"the window failed ({_last_line(exc)}); run with --headless") from None
        finally:
            self.close()

    def handle_key(self, key: int) -> None:
        """React to a key code from ``waitKey`` (-1: none)."""
        if key < 0:
            return
        key &= 0xFF
        if key in (ord("q"), ord("Q"), 27):
            self.quit_requested = True
        elif key in (ord("s"), ord("S")):
            self.save_snapshot()
        elif key in (ord("c"), ord("C")) and self.probes is not None:
            self.probes.clear()
        elif key in (ord("p"), ord("P")) and self.save_cloud is not None:
            self.save_cloud()

    def on_mouse(self, event: int, x: int, y: int, _flags: int, _param: object = None) -> None:
        """Left click: probe the depth there (either half; x, y are image pixels of the view); right click: clear.

        HighGUI calls this from ``waitKey``, on the main thread; ``Probes`` hands the points
        to the display thread.
        """
        import cv2

        if self.probes is None:
            return
        if event == cv2.EVENT_LBUTTONDOWN:
            self.probes.add_at_view(x, y)
        elif event == cv2.EVENT_RBUTTONDOWN:
            self.probes.clear()

    def save_snapshot(self) -> Path | None:
        """Save the image on screen (full size, not the window's) as a PNG; a failure is logged, not fatal."""
        import cv2

        if self._last is None:
            return None
        path = self.snapshot_dir / snapshot_name(".png")
        try:
            self.snapshot_dir.mkdir(parents=True, exist_ok=True)
            saved = cv2.imwrite(str(path), self._last)
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
        if not self._opened:
            return
        self._opened = False
        try:
            self.gui.destroyWindow(self.title)
            self.gui.waitKey(1)
        except Exception as exc:  # noqa: BLE001 - closing must not mask the run's result
            log.debug("closing the window: %s", exc)


def _last_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[-1] if text else type(exc).__name__
