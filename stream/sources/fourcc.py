"""Which pixel format to ask a webcam for: MJPG where raw frames would not fit through USB 2.0.

USB cameras send raw YUYV (2 bytes a pixel) or MJPG (compressed in the camera). USB 2.0 carries
about 640x480 at 30 fps of YUYV; asked for 1280x720 or 1920x1080 at 30 fps in YUYV, a camera
falls back to 5-10 fps. So ``capture.fourcc: auto`` asks for MJPG when the requested pixels per
second exceed 640x480 at 30 fps, and otherwise leaves the camera's own default (raw, no JPEG
artefacts, no decode cost). A four-character code (``MJPG``, ``YUYV``, ``H264``...) is asked for
as given. OpenCV needs the format set before the size and rate.
"""

from __future__ import annotations

import cv2

AUTO = "auto"
#: pixels per second raw YUYV carries over USB 2.0: 640x480 at 30 fps
RAW_PIXEL_RATE = 640 * 480 * 30
#: the rate assumed when none is asked for (what a camera picks by default)
ASSUMED_FPS = 30.0


def wanted_fourcc(setting: str, width: int | None, height: int | None, fps: float | None) -> str | None:
    """The code to ask for, or None to leave the camera's default (``auto`` at a rate raw frames carry)."""
    if setting != AUTO:
        return setting
    if width is None or height is None:
        return None  # the camera's own size: its default format is the one that delivers it
    return "MJPG" if width * height * (fps or ASSUMED_FPS) > RAW_PIXEL_RATE else None


def code_of(fourcc: str) -> int:
    return int(cv2.VideoWriter.fourcc(*fourcc))


def text_of(value: float) -> str | None:
    """``CAP_PROP_FOURCC`` as read back (a float holding four bytes), or None if the backend gives none."""
    code = int(value) if value == value and value > 0 else 0  # value == value: not NaN
    text = "".join(chr((code >> (8 * i)) & 0xFF) for i in range(4))
    return text if code and text.isprintable() and text.strip() else None
