"""A live network stream (RTSP, UDP, RTMP, HLS, an endless HTTP stream) through PyAV.

An error, a stall longer than ``read_timeout`` or an end is a drop: the stream is reopened
with exponential backoff (``reconnect``) up to ``reconnect_attempts`` times since the last
frame it delivered, then ``SourceLostError``. Timestamps run on one increasing timeline
across drops and sender restarts (``timeline``). The decoder runs slice-threaded only:
frame threading would hold back a frame per thread, which on a live stream is latency.
"""

from __future__ import annotations

import time

import av
import av.video.frame

from stream.core.errors import SourceError, SourceLostError
from stream.core.frames import Closing, Frame
from stream.sources.av_open import DECODE_ERRORS, OpenError, VideoInput, first_line, open_video
from stream.sources.base import SourceInfo, SourceKind, SourceOptions, frame_time_base
from stream.sources.picture import Picture, stream_fps
from stream.sources.reconnect import Reconnector
from stream.sources.timeline import Timeline

Arrived = tuple[av.video.frame.VideoFrame, float]


class StreamSource(Closing):
    """Reads an opened live ``VideoInput`` and reopens ``target`` when it drops."""

    def __init__(self, video: VideoInput, target: str, name: str, options: SourceOptions) -> None:
        self.target, self.name, self.options = target, name, options
        self.video: VideoInput | None = video
        self.reconnector = Reconnector(name, options.reconnect_attempts, options.reconnect_backoff)
        self._count = 0
        self._lost = False
        self.damage = video.damage  # damaged frames (packet loss) are counted for the summary, across reconnects
        video.stream.thread_type = "SLICE"
        first, why = self._next()
        if first is None:
            raise SourceError(f"{name} delivered no video frames ({why or 'it ended at once'}); check --source")
        self._pending: Arrived | None = first
        self.picture = Picture(first[0], name)
        fps = stream_fps(video.stream)
        self.time_base = video.stream.time_base or frame_time_base(fps)
        self.timeline = Timeline(self.time_base, fps, name, wall_clock=True)
        self.info = SourceInfo(self.picture.width, self.picture.height, fps, None, self.time_base, SourceKind.STREAM,
                               name, conversion=self.picture.conversion)

    def _next(self) -> tuple[Arrived | None, str]:
        """The next frame and its arrival time, or (None, why) when the stream dropped ("" = it ended)."""
        assert self.video is not None
        try:
            frame = self.video.next_frame()
        except av.error.ExitError:
            return None, f"no data for {self.options.read_timeout:g}s"
        except DECODE_ERRORS as exc:
            return None, first_line(exc)
        return (None, "") if frame is None else ((frame, time.monotonic()), "")

    def _reopen(self) -> tuple[VideoInput, Arrived]:
        """A reconnect counts only when a frame comes through; otherwise it is a failed attempt."""
        video = open_video(self.target, self.name, self.options)
        video.decoder.damage = self.damage
        video.stream.thread_type = "SLICE"
        self.video = video
        first, why = self._next()
        if first is None:
            self._close_video()
            raise OpenError(f"{self.name} delivered no frames", why or "it sent no video frames")
        return video, first

    def read(self) -> Frame | None:
        if self._lost:
            raise SourceLostError(f"{self.name} was lost earlier; check the stream and the network")
        arrived, self._pending = self._pending, None
        while arrived is None:
            if self.video is None:
                return None
            arrived, why = self._next()
            if arrived is None:
                if not why and self.reconnector.attempts == 0:
                    return None  # reconnecting is off: an end is the end
                self._reconnect(why or "the stream ended")
                arrived, self._pending = self._pending, None
        av_frame, arrival = arrived
        self.reconnector.delivered()
        pts = self.timeline.stamp(av_frame.pts, av_frame.time_base, arrival)
        frame = Frame(self.picture.image(av_frame), self._count, pts=pts, time_base=self.time_base, captured_at=arrival)
        self._count += 1
        return frame

    def _reconnect(self, why: str) -> None:
        self._close_video()
        try:
            self.video, self._pending = self.reconnector.reconnect(why, self._reopen)
        except SourceLostError:
            self._lost = True
            raise
        self.timeline.restart()

    def _close_video(self) -> None:
        video, self.video = self.video, None
        if video is not None:
            video.close()

    def close(self) -> None:
        self._close_video()
