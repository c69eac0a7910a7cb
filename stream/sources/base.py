"""What every source shares: the ``Source`` protocol, its ``SourceInfo``, its kind and options.

The rest of the app codes against these names only: whether a run drops frames (live) or
processes every one (file mode) is decided from ``SourceInfo.kind`` and the config, never
by the source, so a source just delivers frames with their own timestamps.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from fractions import Fraction
from typing import Protocol

from stream.core.frames import Frame
from stream.core.protocols import AudioFeed

DEFAULT_FPS = 30.0
DEFAULT_MAX_PIXELS = 100_000_000  # images.max_pixels: a photo or frame declaring more is refused before it is decoded
MAX_DECODABLE_PIXELS = 2**30  # OpenCV's own cap: the most images.max_pixels can be raised to


class SourceKind(enum.Enum):
    """Where frames come from; CAMERA and STREAM are live (they do not wait for a slow reader)."""

    CAMERA = "camera"
    FILE = "file"  # includes a finite file served over HTTP(S)
    STREAM = "stream"
    SYNTHETIC = "synthetic"
    IMAGES = "images"  # a numbered sequence (frames/%04d.png), played as a video
    IMAGE = "image"  # one photo: one frame, image outputs (issue 10)
    BROWSER = "browser"  # the browser page's webcam, sent over a WebSocket (``--serve``, ``stream.web.camera``)


LIVE_KINDS = frozenset({SourceKind.CAMERA, SourceKind.STREAM, SourceKind.BROWSER})


@dataclass(frozen=True)
class SourceOptions:
    """How to open a source; each field matters to some kinds only.

    ``fps`` is the rate asked of a webcam, the rate of an image sequence (None -> 25), the
    rate of the synthetic scene (None -> 30) and the declared rate of a live stream timed by
    arrival (an MJPEG camera: its frames keep their arrival times; None -> 30). Reconnects
    apply to live network streams.
    ``max_pixels`` bounds the size a photo, an image sequence, a video or the synthetic scene
    may declare (``images.max_pixels``): more is refused before any picture is allocated.
    ``fourcc`` is the pixel format asked of a webcam: ``auto`` (MJPG where raw frames would
    not fit through USB 2.0) or a four-character code.
    """

    width: int | None = None
    height: int | None = None
    fps: float | None = None
    reconnect_attempts: int = 5
    reconnect_backoff: float = 0.5
    open_timeout: float = 10.0
    read_timeout: float = 10.0
    max_pixels: int = DEFAULT_MAX_PIXELS
    fourcc: str = "auto"  # the pixel format asked of a webcam (``stream.sources.fourcc``)


@dataclass(frozen=True)
class SourceInfo:
    """What the rest of the app needs to know about a source before the first frame.

    ``width``/``height`` are the upright picture's (after any rotation the file asks for).
    ``frame_count`` is the header's count, else duration x fps (a progress total for
    MKV/WebM); None for live sources. ``audio_path`` is the file or URL whose audio an
    output may copy; a live stream cannot be opened a second time for its sound, so it hands
    its audio over as it arrives instead (``audio_feed``, already on the frames' timeline).
    ``conversion`` says how the pictures were made SDR when the source is HDR (for the
    startup line), else None.
    ``arrival_clock`` says why a live stream is timed by arrival (its own clock is not real,
    ``stream.sources.clock``; "" = it keeps its own timestamps); its ``fps`` is then only
    declared: ``fps_given`` (the user's ``--fps``) or a default.
    """

    width: int
    height: int
    fps: float
    frame_count: int | None
    time_base: Fraction | None
    kind: SourceKind
    description: str
    audio_path: str | None = None
    conversion: str | None = None
    audio_feed: AudioFeed | None = None
    arrival_clock: str = ""
    fps_given: bool = False

    @property
    def is_live(self) -> bool:
        return self.kind in LIVE_KINDS

    @property
    def rate_text(self) -> str:
        """The rate as the startup line states it: never a made-up number for a stream timed by arrival."""
        if not self.arrival_clock:
            return f"@ {self.fps:.2f} fps"
        given = f"@ {self.fps:.2f} fps from --fps, " if self.fps_given else ""
        return f"{given}timed by arrival: {self.arrival_clock}"


class Source(Protocol):
    """``read() -> Frame | None`` (None = end of stream); closes on ``__exit__``."""

    info: SourceInfo

    def read(self) -> Frame | None: ...

    def close(self) -> None: ...

    def __enter__(self) -> Source: ...

    def __exit__(self, *exc: object) -> None: ...


def frame_time_base(fps: float) -> Fraction:
    """1/fps as an exact fraction (29.97 -> 1001/30000), for sources that number their frames."""
    return 1 / Fraction(fps).limit_denominator(1001)
