"""A local camera through OpenCV, asking for a one-frame driver buffer so frames are fresh."""

from __future__ import annotations

import sys
import time
from fractions import Fraction
from pathlib import Path

import cv2

from stream.core.errors import SourceError, SourceLostError
from stream.core.frames import Closing, Frame
from stream.sources.base import DEFAULT_FPS, SourceInfo, SourceKind, SourceOptions
from stream.sources.fourcc import code_of, text_of, wanted_fourcc


def camera_backends() -> list[tuple[str, int]]:
    """OpenCV capture backends worth trying on this platform, most specific first."""
    if sys.platform.startswith("linux"):
        return [("V4L2", cv2.CAP_V4L2), ("any", cv2.CAP_ANY)]
    if sys.platform == "darwin":
        return [("AVFoundation", cv2.CAP_AVFOUNDATION), ("any", cv2.CAP_ANY)]
    if sys.platform.startswith("win"):
        return [("MSMF", cv2.CAP_MSMF), ("DirectShow", cv2.CAP_DSHOW), ("any", cv2.CAP_ANY)]
    return [("any", cv2.CAP_ANY)]


class _QuietOpenCV:
    """OpenCV logs a warning per failed open attempt; we report one line ourselves instead."""

    def __enter__(self) -> None:
        self._level = None
        try:
            self._level = cv2.utils.logging.getLogLevel()
            cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
        except (AttributeError, cv2.error):
            pass

    def __exit__(self, *_exc: object) -> None:
        if self._level is not None:
            cv2.utils.logging.setLogLevel(self._level)


def _open_capture(device: int) -> cv2.VideoCapture:
    """The first backend that opens ``device``, or a ``SourceError`` listing what was tried."""
    tried: list[str] = []
    with _QuietOpenCV():
        for name, backend in camera_backends():
            tried.append(name)
            capture = cv2.VideoCapture(device, backend)
            if capture.isOpened():
                return capture
            capture.release()
    devices = sorted(str(p) for p in Path("/dev").glob("video*")) if sys.platform.startswith("linux") else []
    found = f"found {' '.join(devices)}" if devices else "no /dev/video* devices found"
    raise SourceError(
        f"webcam {device} did not open (tried index {device} with OpenCV backends {', '.join(tried)}; "
        f"{found}); check --source (list cameras with 'ls /dev/video*') or use a video file or 'synthetic'"
    )


def _describe(device: int, asked: str | None, got: str | None) -> str:
    """``webcam 0 MJPG``; ``webcam 0 YUYV (asked for MJPG)`` when the camera would not; the format it gives."""
    if asked is not None and got is not None and got.strip() != asked.strip():
        return f"webcam {device} {got.strip()} (asked for {asked}; the camera does not offer it at this size and rate)"
    shown = got or asked
    return f"webcam {device} {shown.strip()}" if shown else f"webcam {device}"


class WebcamSource(Closing):
    """Frames carry milliseconds since the camera opened (``time_base`` 1/1000).

    A camera that delivers nothing for ``options.read_timeout`` seconds raises ``SourceLostError``.
    """

    def __init__(self, index: int, options: SourceOptions | None = None) -> None:
        options = options or SourceOptions()
        self.device = int(index)
        self.read_timeout = options.read_timeout
        self.capture: cv2.VideoCapture | None = _open_capture(self.device)
        self.capture.set(cv2.CAP_PROP_BUFFERSIZE, 1)
        asked = wanted_fourcc(options.fourcc, options.width, options.height, options.fps)
        if asked is not None:  # before the size and rate: OpenCV's V4L2 backend picks sizes within the format
            self.capture.set(cv2.CAP_PROP_FOURCC, code_of(asked))
        if options.width:
            self.capture.set(cv2.CAP_PROP_FRAME_WIDTH, options.width)
        if options.height:
            self.capture.set(cv2.CAP_PROP_FRAME_HEIGHT, options.height)
        if options.fps:
            self.capture.set(cv2.CAP_PROP_FPS, options.fps)
        got_fps = self.capture.get(cv2.CAP_PROP_FPS)
        got_fps = got_fps if got_fps and 0 < got_fps < 1000 else (options.fps or DEFAULT_FPS)
        self.info = SourceInfo(
            int(self.capture.get(cv2.CAP_PROP_FRAME_WIDTH)), int(self.capture.get(cv2.CAP_PROP_FRAME_HEIGHT)),
            float(got_fps), None, Fraction(1, 1000), SourceKind.CAMERA,
            _describe(self.device, asked, text_of(self.capture.get(cv2.CAP_PROP_FOURCC))),
        )
        self._opened_at = time.monotonic()
        self._count = 0
        self._last_pts = -1

    def read(self) -> Frame | None:
        if self.capture is None:
            raise SourceLostError(f"webcam {self.device} was closed; restart the app")
        deadline = time.monotonic() + self.read_timeout
        while True:
            ok, image = self.capture.read()
            if ok and image is not None and image.size:
                break
            if time.monotonic() > deadline:
                raise SourceLostError(
                    f"webcam {self.device} delivered no frame for {self.read_timeout:g}s; "
                    "check its cable or that no other app holds it"
                )
            time.sleep(0.02)
        now = time.monotonic()
        if image.ndim == 2:
            image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
        pts = max(int((now - self._opened_at) * 1000), self._last_pts + 1)
        self._last_pts = pts
        frame = Frame(image, self._count, pts=pts, time_base=Fraction(1, 1000), captured_at=now)
        self._count += 1
        return frame

    def close(self) -> None:
        if self.capture is not None:
            self.capture.release()
            self.capture = None
