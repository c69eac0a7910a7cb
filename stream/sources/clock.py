"""Whether a live stream's own timestamps are a real clock, and timing by arrival where they are not.

Some formats carry no time at all, and FFmpeg numbers their frames itself at a made-up
rate (frame n at n/25 s): an IP camera's MJPEG over HTTP (``multipart/x-mixed-replace``,
the ``mpjpeg`` demuxer: ESP32-CAM, Android "IP Webcam", most cheap network cameras), a
raw JPEG or PNG pipe (``image2pipe``, ``jpeg_pipe``...), a raw H.264/HEVC elementary
stream. A 15 fps camera timed that way records a video that plays 25/15 times too fast.
FFmpeg itself says so for most of them (the format flag ``AVFMT_NOTIMESTAMPS``); the
image pipes and raw video do not set it but are numbered all the same, and a frame
without any pts has no clock either. Such a *live* stream is timed by arrival instead
(``ArrivalClock``): each frame at the real time since the first one. A file keeps its
frame numbers (there is no arrival to go by: it is read as fast as it decodes).
"""

from __future__ import annotations

from fractions import Fraction

import av.container
import av.video.frame

# FFmpeg's AVFMT_NOTIMESTAMPS: "format does not need / have any timestamps".
NO_TIMESTAMPS = 0x0080
# Demuxers that number frames at an assumed rate without saying so through the flag.
NUMBERED_FORMATS = frozenset({"image2pipe", "rawvideo"})
# Arrival times in milliseconds: finer than any frame interval, and Matroska's own unit.
ARRIVAL_TIME_BASE = Fraction(1, 1000)


def made_up_clock(container: av.container.InputContainer, first: av.video.frame.VideoFrame) -> str:
    """Why the stream's timestamps are not a real clock ("" when they are), for the log."""
    formats = container.format.name.split(",")
    if container.format.flags & NO_TIMESTAMPS:
        return f"the {formats[0]} format carries no timestamps"
    if any(name in NUMBERED_FORMATS or name.endswith("_pipe") for name in formats):
        return f"the {formats[0]} format numbers its frames at an assumed rate"
    if first.pts is None:
        return "its frames carry no timestamps"
    return ""


class ArrivalClock:
    """Output pts (``ARRIVAL_TIME_BASE`` ticks) from arrival times: the first frame at 0, then the
    real time since it, strictly increasing. A reconnect needs nothing special: the outage is real time too.
    """

    time_base = ARRIVAL_TIME_BASE

    def __init__(self) -> None:
        self._origin: float | None = None
        self.last: int | None = None

    def stamp(self, arrival: float) -> int:
        """The pts of a frame that arrived at ``arrival`` (seconds, monotonic)."""
        if self._origin is None:
            self._origin = arrival
        pts = round((arrival - self._origin) / self.time_base)
        if self.last is not None and pts <= self.last:
            pts = self.last + 1
        self.last = pts
        return pts
