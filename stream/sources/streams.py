"""A live network stream (RTSP, UDP, RTMP, HLS, an endless HTTP stream) through PyAV.

An error, a stall longer than ``read_timeout`` or an end is a drop: the stream is reopened
with exponential backoff (``reconnect``) up to ``reconnect_attempts`` times since the last
frame it delivered, then ``SourceLostError``. A reopened stream that hands back frames it
delivered before (a live HLS playlist restarts a few segments back) delivers only what comes
after them; one that brings nothing new is a failed attempt (``replay``). A stream that
reopens with a duration (an HLS playlist that gained ``#EXT-X-ENDLIST``) was ended by its
sender: that is the end of the source, not a drop. Timestamps run on one increasing timeline
across drops and sender restarts (``timeline``), and the stream's sound goes along on it
(``live_audio``). The decoder runs slice-threaded only: frame threading would hold back a
frame per thread, which on a live stream is latency.
A stream whose own timestamps are made up by FFmpeg (an MJPEG camera: ``clock``) is timed
by arrival instead; ``--fps`` then only declares its rate.
"""

from __future__ import annotations

import contextlib
import logging
import time
from typing import NamedTuple

import av
import av.video.frame
import numpy as np

from stream.core.errors import SourceError, SourceLostError
from stream.core.frames import Closing, Frame
from stream.sources.av_open import DECODE_ERRORS, OpenError, VideoInput, first_line, open_video
from stream.sources.base import DEFAULT_FPS, SourceInfo, SourceKind, SourceOptions, frame_time_base
from stream.sources.clock import ArrivalClock, made_up_clock
from stream.sources.live_audio import LiveAudio
from stream.sources.picture import Picture, stream_fps
from stream.sources.reconnect import Reconnector
from stream.sources.replay import Seen, SeenFrames
from stream.sources.timeline import Timeline

log = logging.getLogger(__name__)

Arrived = tuple[av.video.frame.VideoFrame, float]


class Pending(NamedTuple):
    """A frame read but not yet delivered: its picture, and whether it continues the timeline."""

    frame: av.video.frame.VideoFrame
    arrival: float
    image: np.ndarray
    seen: Seen


class Ended(Exception):
    """The stream reopened as a finished recording: its sender ended it."""


class StreamSource(Closing):
    """Reads an opened live ``VideoInput`` and reopens ``target`` when it drops."""

    def __init__(self, video: VideoInput, target: str, name: str, options: SourceOptions) -> None:
        self.target, self.name, self.options = target, name, options
        self.video: VideoInput | None = video
        self.reconnector = Reconnector(name, options.reconnect_attempts, options.reconnect_backoff)
        self.audio = LiveAudio(name)
        self.seen = SeenFrames()
        self._count = 0
        self._lost = False
        self._finishing = False
        self.damage = video.damage  # damaged frames (packet loss) are counted for the summary, across reconnects
        self._use(video)
        first, why = self._next()
        if first is None:
            raise SourceError(f"{name} delivered no video frames ({why or 'it ended at once'}); check --source")
        self.picture = Picture(first[0], name)
        self._pending: Pending | None = self._judge(first)
        why_not = made_up_clock(video.container, first[0])
        self.arrival: ArrivalClock | None = ArrivalClock() if why_not else None
        if self.arrival is not None:
            fps = options.fps or DEFAULT_FPS
            self.time_base = self.arrival.time_base
        else:
            fps = stream_fps(video.stream)
            self.time_base = video.stream.time_base or frame_time_base(fps)
        self.timeline = Timeline(self.time_base, fps, name, wall_clock=True)
        self.info = SourceInfo(self.picture.width, self.picture.height, fps, None, self.time_base, SourceKind.STREAM,
                               name, conversion=self.picture.conversion,
                               audio_feed=self.audio if self.audio.stream is not None else None,
                               arrival_clock=why_not, fps_given=bool(why_not and options.fps))

    def _use(self, video: VideoInput) -> None:
        """Read from ``video`` from now on, its sound going to ``audio``."""
        video.stream.thread_type = "SLICE"
        video.decoder.damage = self.damage
        self.video = video
        self.audio.connect(video)

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

    def _judge(self, arrived: Arrived) -> Pending | None:
        """The frame with its picture, or None if it was delivered before (a replay after a reconnect)."""
        frame, arrival = arrived
        image = self.picture.image(frame)
        seen = self.seen.check(frame.pts, frame.time_base, image)
        return None if seen is Seen.REPLAYED else Pending(frame, arrival, image, seen)

    def _reopen(self) -> tuple[VideoInput, Pending]:
        """A reconnect counts only when a new frame comes through; otherwise it is a failed attempt.

        A stream that now opens with a duration was finished by its sender: what it holds beyond
        the newest frame delivered is read, then the source ends (``Ended`` if there is nothing).
        """
        video = open_video(self.target, self.name, self.options)
        finished = video.duration is not None
        self._use(video)
        self.seen.reconnected(same_clock=finished)
        if finished:
            self._skip_to_newest(video)
        replayed = 0
        while True:
            arrived, why = self._next()
            if arrived is None:
                self._close_video()
                if finished and not why:
                    raise Ended
                if replayed:
                    raise OpenError(f"{self.name} sent only frames it had sent before", "it sent only frames already seen")
                raise OpenError(f"{self.name} delivered no frames", why or "it sent no video frames")
            pending = self._judge(arrived)
            if pending is not None:
                self._finishing = finished
                return video, pending
            replayed += 1

    def _skip_to_newest(self, video: VideoInput) -> None:
        """Seek a finished stream to the newest frame delivered rather than decode it all again (best effort)."""
        newest = self.seen.newest
        if newest is not None and newest[1] == video.stream.time_base:
            with contextlib.suppress(*DECODE_ERRORS):
                video.container.seek(newest[0], stream=video.stream)

    def read(self) -> Frame | None:
        if self._lost:
            raise SourceLostError(f"{self.name} was lost earlier; check the stream and the network")
        while self._pending is None:
            if self.video is None:
                return None
            arrived, why = self._next()
            if arrived is not None:
                self._pending = self._judge(arrived)
            elif not why and (self.reconnector.attempts == 0 or self._finishing):
                return None  # reconnecting is off, or the sender finished the stream: an end is the end
            else:
                self._reconnect(why or "the stream ended")
        pending, self._pending = self._pending, None
        if pending.seen is Seen.RESTARTED:
            self.timeline.restart()
        self.reconnector.delivered()
        if self.arrival is not None:
            pts = self.arrival.stamp(pending.arrival)
        else:
            pts = self.timeline.stamp(pending.frame.pts, pending.frame.time_base, pending.arrival)
        self.audio.follow(self.timeline.shift)
        frame = Frame(pending.image, self._count, pts=pts, time_base=self.time_base, captured_at=pending.arrival)
        self._count += 1
        return frame

    def _reconnect(self, why: str) -> None:
        self._close_video()
        try:
            self.video, self._pending = self.reconnector.reconnect(why, self._reopen)
        except Ended:
            log.info("%s has ended: its sender finished it (it now opens with a duration)", self.name)
        except SourceLostError:
            self._lost = True
            raise

    def _close_video(self) -> None:
        video, self.video = self.video, None
        if video is not None:
            video.close()

    def close(self) -> None:
        self._close_video()
        self.audio.end()
