"""Is there a screen, and how big is it? Asked before OpenCV touches the display.

OpenCV's Qt backend aborts the whole process when it cannot open the display, so the X
server is looked for first; and a window sized to the image alone can be wider than the
screen (a 720p source makes a 2560-pixel side-by-side), so the window fits itself to it.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import socket
import sys

from stream.core.errors import OutputError

# when the screen cannot be asked (no Xlib, another platform), fit the window to this
FALLBACK_SCREEN = (1280, 720)


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


def screen_size() -> tuple[int, int]:
    """The screen's size in pixels (X11 through Xlib, Windows through user32), else a laptop-sized guess."""
    try:
        if sys.platform.startswith("win"):
            user32 = ctypes.windll.user32  # type: ignore[attr-defined]
            return int(user32.GetSystemMetrics(0)), int(user32.GetSystemMetrics(1))
        if sys.platform.startswith("linux"):
            size = _x11_screen_size()
            if size is not None:
                return size
    except (OSError, AttributeError):
        pass  # a missing or odd library: fall back, never fail the run over a window size
    return FALLBACK_SCREEN


def _x11_screen_size() -> tuple[int, int] | None:
    name = ctypes.util.find_library("X11")
    if name is None:
        return None
    xlib = ctypes.cdll.LoadLibrary(name)
    xlib.XOpenDisplay.restype = ctypes.c_void_p
    xlib.XOpenDisplay.argtypes = [ctypes.c_char_p]
    xlib.XDefaultScreen.argtypes = [ctypes.c_void_p]
    xlib.XDisplayWidth.argtypes = xlib.XDisplayHeight.argtypes = [ctypes.c_void_p, ctypes.c_int]
    xlib.XCloseDisplay.argtypes = [ctypes.c_void_p]
    display = xlib.XOpenDisplay(None)
    if not display:
        return None
    try:
        screen = xlib.XDefaultScreen(display)
        width, height = int(xlib.XDisplayWidth(display, screen)), int(xlib.XDisplayHeight(display, screen))
    finally:
        xlib.XCloseDisplay(display)
    return (width, height) if width > 0 and height > 0 else None
