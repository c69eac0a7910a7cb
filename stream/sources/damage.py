"""Frames the decoder reported damaged: counted, placed in time, and said in one line.

FFmpeg conceals a damaged packet (the frame comes out with smeared or grey blocks and is
flagged, ``VideoFrame.is_corrupt``) or, when it cannot decode a packet at all, raises for
it. Either way the rest of the file still decodes, so a run goes on to the end; without a
count a damaged file would pass as a clean one. A file says so at its end (``FileSource``);
a live stream, where a damaged frame is ordinary packet loss, only counts.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from typing import Protocol, runtime_checkable

import av
import av.video.frame
import av.video.stream


def clock(seconds: float) -> str:
    """``mm:ss.ff`` (``h:mm:ss.ff`` past an hour): how a player shows a moment of a video."""
    hours, rest = divmod(max(seconds, 0.0), 3600)
    minutes, secs = divmod(rest, 60)
    text = f"{int(minutes):02d}:{secs:05.2f}"
    return f"{int(hours)}:{text}" if hours else text


@dataclass
class Damage:
    """How many frames came out concealed (``shown``) or could not be decoded (``lost``), and when."""

    shown: int = 0
    lost: int = 0
    first: float | None = None
    last: float | None = None
    reason: str = ""  # FFmpeg's message for the first packet it could not decode

    @property
    def frames(self) -> int:
        return self.shown + self.lost

    def concealed(self, seconds: float | None) -> None:
        """A frame decoded with errors (FFmpeg concealed them): it is delivered as decoded."""
        self.shown += 1
        self._at(seconds)

    def undecodable(self, seconds: float | None, reason: str) -> None:
        """A packet FFmpeg could not decode: its frame is left out and decoding goes on."""
        self.lost += 1
        self.reason = self.reason or reason
        self._at(seconds)

    def _at(self, seconds: float | None) -> None:
        if seconds is None:
            return
        self.first = seconds if self.first is None else min(self.first, seconds)
        self.last = seconds if self.last is None else max(self.last, seconds)

    def describe(self) -> str:
        """``3 frames were damaged (decoder errors at 00:01.20-00:01.40); the output shows them as decoded``."""
        noun = "frame was" if self.frames == 1 else "frames were"
        where = ""
        if self.first is not None and self.last is not None:
            span = clock(self.first) if self.last - self.first < 0.005 else f"{clock(self.first)}-{clock(self.last)}"
            where = f" at {span}"
        text = f"{self.frames} {noun} damaged (decoder errors{where})"
        if not self.lost:
            return f"{text}; the output shows {'it' if self.shown == 1 else 'them'} as decoded"
        left_out = f"{self.lost} could not be decoded and {'is' if self.lost == 1 else 'are'} left out ({self.reason})"
        return f"{text}; {left_out}" + (f", {self.shown} shown as decoded" if self.shown else "")


@runtime_checkable
class CountsDamage(Protocol):
    """A source that counts damaged frames and goes on (a live stream); a file fails at its end instead."""

    damage: Damage


def damaged_frames(source: object) -> int:
    """How many frames a live stream's decoder found damaged so far (a file says so itself, at its end)."""
    return source.damage.frames if isinstance(source, CountsDamage) else 0


class DamageCountingDecoder:
    """Decodes one video stream's packets, counting damage in ``damage`` instead of raising it.

    With frame threading FFmpeg reports a packet's failure a few packets later; the frame
    lost is the earliest one sent and not yet come out, so that is the moment named.
    ``reason`` makes FFmpeg's exception one short line.
    """

    def __init__(self, stream: av.video.stream.VideoStream, reason: Callable[[BaseException], str]) -> None:
        self.stream, self.reason = stream, reason
        self.damage = Damage()
        self._waiting: list[int] = []  # pts of packets sent whose frame has not come out, sorted

    def decode(self, packet: av.Packet) -> list[av.video.frame.VideoFrame]:
        """The packet's frames; a read timeout (``ExitError``) or the end (``EOFError``) is not damage and is raised."""
        if packet.pts is not None and packet.size:
            bisect.insort(self._waiting, packet.pts)
            del self._waiting[:-64]  # a decoder holds a few frames, never this many
        try:
            frames = packet.decode()
        except (av.error.ExitError, av.error.EOFError):
            raise
        except av.error.FFmpegError as exc:
            lost = self._waiting.pop(0) if self._waiting else packet.pts
            self.damage.undecodable(self._seconds(lost, packet.time_base), self.reason(exc))
            return []
        for frame in frames:
            if frame.pts is not None:
                del self._waiting[:bisect.bisect_right(self._waiting, frame.pts)]
            if frame.is_corrupt:
                self.damage.concealed(self._seconds(frame.pts, frame.time_base))
        return frames

    def _seconds(self, pts: int | None, time_base: Fraction | None) -> float | None:
        """A moment as a player shows it: from the stream's first timestamp."""
        if pts is None or not time_base:
            return None
        return float((pts - (self.stream.start_time or 0)) * time_base)
