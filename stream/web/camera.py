"""The browser's webcam as the pipeline's source (``--source browser``).

The page captures its camera (getUserMedia), draws a frame to a canvas, and sends it as one
JPEG message over a WebSocket. The server puts it in ``BrowserFeed``'s single slot; the
capture thread takes it (``BrowserSource.read``), decodes it, and only then is the page told
"next" — so each page has at most one frame in flight and nothing queues anywhere: the
camera runs at the rate the server actually takes frames, and inference, as for any live
source, works on the newest of those. Two pages sending at once share the slot, newest wins.
"""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction

import cv2
import numpy as np

from stream.core.frames import Closing, Frame
from stream.core.imageheader import declared_size
from stream.sources.base import DEFAULT_FPS, DEFAULT_MAX_PIXELS, SourceInfo, SourceKind
from stream.sources.sniff import TooManyPixels, check_pixels

TAKE_POLL_S = 0.1  # how often a waiting read looks at the stop event
UNDECODABLE = "the server could not decode that frame as an image; send JPEG or PNG"


@dataclass(frozen=True)
class Offered:
    data: bytes
    received_at: float
    done: Callable[[str | None], None]  # None: taken; else why not (replaced, not an image, closed)


class BrowserFeed:
    """One slot between the page's WebSocket (the server's loop) and the capture thread."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._item: Offered | None = None
        self._closed = False
        self.received = 0
        self.replaced = 0

    def offer(self, data: bytes, done: Callable[[str | None], None]) -> None:
        """Hand a frame over; ``done`` is called once (from any thread) when it is taken or given up."""
        with self._cond:
            if self._closed:
                old: Offered | None = Offered(data, 0.0, done)
                reason = "the server is stopping"
            else:
                old, self._item = self._item, Offered(data, time.monotonic(), done)
                reason = "a newer frame replaced it"
                self.received += 1
                self.replaced += old is not None
                self._cond.notify_all()
        if old is not None:
            old.done(reason)

    @property
    def closed(self) -> bool:
        """The source has stopped taking frames (the run is ending)."""
        return self._closed

    def take(self, timeout: float) -> Offered | None:
        with self._cond:
            if self._item is None and not self._closed:
                self._cond.wait(timeout)
            item, self._item = self._item, None
            return item

    def close(self) -> None:
        with self._cond:
            self._closed = True
            item, self._item = self._item, None
            self._cond.notify_all()
        if item is not None:
            item.done("the server is stopping")


def cover(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """``image`` cropped to the aspect of width x height (centred) and scaled to it, as CSS object-fit: cover."""
    h, w = image.shape[:2]
    if (w, h) == (width, height):
        return image
    scale = max(width / w, height / h)
    crop_w, crop_h = min(w, round(width / scale)), min(h, round(height / scale))
    x, y = (w - crop_w) // 2, (h - crop_h) // 2
    return cv2.resize(image[y:y + crop_h, x:x + crop_w], (width, height), interpolation=cv2.INTER_AREA)


class BrowserSource(Closing):
    """A live source whose frames come from ``BrowserFeed``; ``read`` waits for one until ``stop`` is set.

    Every frame is brought to the declared size (``capture.width`` x ``capture.height``), so
    probes, outputs and the page's click geometry stay valid whatever camera the page has.
    """

    def __init__(self, feed: BrowserFeed, width: int, height: int, fps: float | None, stop: threading.Event,
                 max_pixels: int = DEFAULT_MAX_PIXELS) -> None:
        self.feed = feed
        self.max_pixels = max_pixels
        self.stop = stop
        self.width, self.height = int(width), int(height)
        self.info = SourceInfo(self.width, self.height, float(fps or DEFAULT_FPS), None, Fraction(1, 1000),
                               SourceKind.BROWSER, f"browser webcam {self.width}x{self.height}")
        self._opened_at = time.monotonic()
        self._count = 0
        self._last_pts = -1
        self.undecodable = 0

    def read(self) -> Frame | None:
        while not self.stop.is_set():
            item = self.feed.take(TAKE_POLL_S)
            if item is None:
                continue
            refusal = self._refusal(item.data)
            image = cv2.imdecode(np.frombuffer(item.data, np.uint8), cv2.IMREAD_COLOR) if refusal is None else None
            if image is None:
                self.undecodable += 1
                item.done(refusal or UNDECODABLE)
                continue
            item.done(None)
            pts = max(int((item.received_at - self._opened_at) * 1000), self._last_pts + 1)
            self._last_pts = pts
            frame = Frame(cover(image, self.width, self.height), self._count, pts=pts, time_base=Fraction(1, 1000),
                          captured_at=item.received_at)
            self._count += 1
            return frame
        return None

    def _refusal(self, data: bytes) -> str | None:
        """Why a frame is not decoded at all: no picture's header, or one declaring more than ``max_pixels``
        (a decompression bomb would make OpenCV allocate what it declares)."""
        header = declared_size(io.BytesIO(data))
        if header is None:
            return UNDECODABLE
        try:
            check_pixels(header[1], header[2], self.max_pixels, "that frame")
        except TooManyPixels as exc:
            return f"that frame {exc.reason}; send the camera's frames at their own size"
        return None

    def close(self) -> None:
        self.feed.close()
