"""A live stream's sound, handed from the capture thread to the recording on the pictures' timeline.

A file's sound is read a second time by the output (``stream.sinks.audio``); a live stream's
cannot be: a second connection is a second viewer (another start, maybe another clock, twice
the bandwidth) and a UDP port has one reader. So the capture thread, which demuxes every
packet anyway (``VideoInput``), passes the first audio stream's packets here, and an output
takes them as they come (``open``).

Packets are put on the pictures' timeline. The stream source maps its pictures' timestamps to
one increasing timeline, shifting them after a reconnect or a sender restart (``timeline``);
each packet gets the shift its connection's pictures got (``follow``). A new connection's
sound waits for its first picture and takes that picture's shift; sound that would go back
in time (a replayed segment, a restarted sender's first moments) is dropped, so the output's
sound only goes forward, in step with the pictures. The queue is bounded: with no output
reading it (or one far behind), the oldest packets go.

An output opens on its first picture, which can be decoded before the first sound arrives (a
muxer interleaves sound in bunches); it waits for that first packet (``FIRST_SOUND``): copying
AAC into MP4 takes the codec configuration from it.
"""

from __future__ import annotations

import collections
import io
import logging
import threading
from fractions import Fraction
from typing import Any

import av
import av.audio.stream
import av.packet

from stream.sources.av_open import DECODE_ERRORS, VideoInput, first_line

log = logging.getLogger(__name__)

# About 45 s of AAC at 44.1 kHz: room for an output that opens a little after the source.
MAX_PACKETS = 2048
# How long an output waits for the first sound once the pictures have come (seconds).
FIRST_SOUND = 1.0


class LiveAudio:
    """The sound of one live source across its connections; ``open`` is the output's side."""

    def __init__(self, name: str, limit: int = MAX_PACKETS) -> None:
        self.name = name
        self.stream: Any = None  # a copy of the first connection's audio stream, which outlives it
        self._holder: av.container.OutputContainer | None = None
        self._signature: tuple[str, int, int] | None = None
        self._lock = threading.Lock()
        self._queue: collections.deque[av.packet.Packet] = collections.deque(maxlen=limit)
        self._held: collections.deque[av.packet.Packet] = collections.deque(maxlen=limit)
        self._shift: Fraction | None = None
        self._last: Fraction | None = None
        self._heard = threading.Event()
        self._closed = False

    def connect(self, video: VideoInput) -> None:
        """Take the sound of a new connection (its packets wait for its first picture's shift)."""
        self._shift = None
        self._held.clear()
        stream = video.audio_stream
        if stream is None or self._closed:
            return
        signature = _signature(stream)
        if self.stream is None:
            self._keep_parameters(stream)
            self._signature = signature
        elif signature != self._signature:
            log.warning("%s: after reconnecting its sound is %s %d Hz %d ch, not %s %d Hz %d ch as before; "
                        "the recording goes on without it", self.name, *signature, *(self._signature or ()))
            return
        if self.stream is not None:
            video.on_audio = self._arrived

    def _keep_parameters(self, stream: av.audio.stream.AudioStream) -> None:
        """Copy the codec parameters into a container of our own: an output copies them after the
        connection they came from is closed (an unstarted container writes nothing)."""
        try:
            self._holder = av.open(io.BytesIO(), "w", format="matroska")
            self.stream = self._holder.add_stream_from_template(stream)
        except DECODE_ERRORS as exc:
            log.warning("%s: its %s sound cannot be kept (%s); recording without it", self.name,
                        _signature(stream)[0], first_line(exc))
            self.stream = None

    def follow(self, shift: Fraction) -> None:
        """The current connection's pictures are ``shift`` seconds later on the timeline than their pts."""
        if shift == self._shift:
            return
        self._shift = shift
        while self._held:
            self._queue_packet(self._held.popleft())

    def _arrived(self, packet: av.packet.Packet) -> None:
        if self._shift is None:
            self._held.append(packet)
        else:
            self._queue_packet(packet)

    def _queue_packet(self, packet: av.packet.Packet) -> None:
        assert self._shift is not None
        if packet.dts is None or packet.time_base is None:
            return
        ticks = round(self._shift / packet.time_base)
        if ticks:
            packet.dts += ticks
            if packet.pts is not None:
                packet.pts += ticks
        at = packet.dts * packet.time_base
        if self._last is not None and at <= self._last:
            return  # back in time: replayed or from before this connection's first picture
        self._last = at
        with self._lock:
            if not self._closed:
                self._queue.append(packet)
                self._heard.set()

    def next_packet(self) -> av.packet.Packet | None:
        """The oldest waiting packet, or None if none is waiting yet (called from the output's thread)."""
        with self._lock:
            return self._queue.popleft() if self._queue else None

    def open(self) -> LiveAudio | None:
        """The output's side, once the first sound is there: None if the stream has no sound that can be kept."""
        if self.stream is None or self._closed:
            return None
        if not self._heard.wait(FIRST_SOUND):
            log.warning("%s declares sound but sent none within %gs of its pictures; recording without it",
                        self.name, FIRST_SOUND)
            return None
        return self

    def close(self) -> None:
        """Nothing to do for an output: the sound belongs to the source, which ends it (``end``)."""

    def end(self) -> None:
        """The source is closing: no more sound."""
        with self._lock:
            self._closed = True
            self._queue.clear()
        self._heard.set()
        self._held.clear()
        if self._holder is not None:
            self._holder.close()


def _signature(stream: av.audio.stream.AudioStream) -> tuple[str, int, int]:
    context = stream.codec_context
    return context.name, int(context.sample_rate or 0), int(context.channels or 0)
