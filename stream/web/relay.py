"""Many viewers, one pipeline: the newest composed frame in one slot, encoded once, awaited by each viewer.

The display thread ``publish``es each composed frame and returns at once: it stores the
frame in a single slot (replacing any older one) and wakes the server's event loop. Each
viewer remembers the sequence number it sent last and awaits a newer one (after aiortc's
MediaRelay: a consumer only ever gets the newest frame). A viewer that is slow, or whose
socket has stopped reading, is simply not waiting when frames go by: it skips them, and
nothing anyone does in the server can make ``publish`` wait. JPEG encoding happens at most
once per frame, by whichever viewer asks first, in a worker thread; later viewers reuse it.
A frame may also carry how to make it without its overlay (``stream.web.plain``), for the
pages on narrow screens: that picture too is made and encoded at most once, when one asks.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

from stream.core.frames import Closing, Frame
from stream.web.plain import PlainPicture


@dataclass(frozen=True)
class Published:
    """A composed frame as published: its number in this run, the picture, when it was handed over."""

    seq: int
    image: np.ndarray
    published_at: float
    plain: Callable[[], np.ndarray] | None = None  # the picture without its overlay (None: it has none)


@dataclass(frozen=True)
class Encoded:
    seq: int
    jpeg: bytes
    published_at: float


class FrameRelay:
    """The newest frame, for any number of viewers; ``publish`` never waits for one of them."""

    def __init__(self, jpeg_quality: int = 80) -> None:
        self.jpeg_quality = jpeg_quality
        self._lock = threading.Lock()
        self._latest: Published | None = None
        self._seq = 0
        self._encode_lock = threading.Lock()
        self._encoded: dict[bool, Encoded] = {}  # the newest encoding, with and without the overlay
        self._loop: asyncio.AbstractEventLoop | None = None
        self._changed: asyncio.Event | None = None
        self.encodes = 0  # JPEG encodings done: one per frame some viewer wanted, however many viewers
        self.closed = False

    # -- the display thread's side -----------------------------------------------------------
    def publish(self, image: np.ndarray, plain: Callable[[], np.ndarray] | None = None) -> None:
        """Make ``image`` the newest frame (it must not be changed afterwards) and wake the viewers.

        ``plain`` makes the same frame without its overlay, called only if a narrow page wants it.
        """
        with self._lock:
            self._seq += 1
            self._latest = Published(self._seq, image, time.monotonic(), plain)
            loop = self._loop
        if loop is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(self._wake)
            except RuntimeError:
                pass  # the loop closed between the check and the call: nobody is waiting any more

    @property
    def latest(self) -> Published | None:
        with self._lock:
            return self._latest

    @property
    def published(self) -> int:
        with self._lock:
            return self._seq

    # -- the event loop's side ---------------------------------------------------------------
    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        """Bind to the server's loop (called on it); frames published before still count."""
        self._changed = asyncio.Event()
        with self._lock:
            self._loop = loop

    def _wake(self) -> None:
        if self._changed is not None:
            self._changed.set()
            self._changed = asyncio.Event()

    def close(self) -> None:
        """Wake every waiting viewer for the last time (the server is stopping); called on the loop."""
        self.closed = True
        self._wake()

    async def next_after(self, seq: int, timeout: float) -> Published | None:
        """The newest frame if newer than ``seq``, else wait up to ``timeout`` s for one; None if none came."""
        deadline = time.monotonic() + timeout
        while True:
            latest = self.latest
            if latest is not None and latest.seq > seq:
                return latest
            remaining = deadline - time.monotonic()
            if self.closed or self._changed is None or remaining <= 0:
                return None
            try:
                await asyncio.wait_for(self._changed.wait(), remaining)
            except asyncio.TimeoutError:
                return None

    async def next_jpeg(self, seq: int, timeout: float, plain: bool = False) -> Encoded | None:
        """Like ``next_after``, as JPEG bytes (encoded off the loop, once per frame); ``plain``: without the overlay."""
        item = await self.next_after(seq, timeout)
        if item is None:
            return None
        return await asyncio.get_running_loop().run_in_executor(None, self.jpeg, item, plain)

    def jpeg(self, item: Published, plain: bool = False) -> Encoded:
        """``item`` as JPEG; the newest encoding is kept, so every viewer of one frame shares it."""
        plain = plain and item.plain is not None
        with self._encode_lock:
            cached = self._encoded.get(plain)
            if cached is not None and cached.seq >= item.seq:
                return cached  # this frame or a newer one: both are what a viewer of the newest wants
            image = item.plain() if plain and item.plain is not None else item.image
            ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, self.jpeg_quality])
            if not ok:
                raise RuntimeError("OpenCV could not encode the frame as JPEG")
            encoded = self._encoded[plain] = Encoded(item.seq, data.tobytes(), item.published_at)
            self.encodes += 1
            return encoded


class RelaySink(Closing):
    """The pipeline's side: a frame sink that publishes each composed frame to the relay.

    Closing it does not close the relay: the page keeps showing the last frame after the
    source ends, until the server stops.
    """

    def __init__(self, relay: FrameRelay, plain: PlainPicture | None = None) -> None:
        self.relay = relay
        self.plain = plain

    def write(self, frame: Frame) -> None:
        self.relay.publish(frame.image, self.plain.maker() if self.plain is not None else None)


@dataclass(eq=False)
class Viewer:
    kind: str  # "mjpeg" or "websocket"
    sent: int = 0


class Viewers:
    """Who is watching, with a cap: one more than ``limit`` is turned away with a message."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._lock = threading.Lock()
        self._active: list[Viewer] = []
        self.refused = 0

    def join(self, kind: str) -> Viewer | None:
        with self._lock:
            if len(self._active) >= self.limit:
                self.refused += 1
                return None
            viewer = Viewer(kind)
            self._active.append(viewer)
            return viewer

    def leave(self, viewer: Viewer) -> None:
        with self._lock:
            if viewer in self._active:
                self._active.remove(viewer)

    def __len__(self) -> int:
        with self._lock:
            return len(self._active)

    def sent_counts(self) -> list[int]:
        """Frames sent to each viewer watching now (a stalled one stops counting)."""
        with self._lock:
            return [viewer.sent for viewer in self._active]

    def full_message(self) -> str:
        return (f"too many viewers: {self.limit} already watching (serve.max_viewers = {self.limit}); "
                f"close another viewer or raise serve.max_viewers")
