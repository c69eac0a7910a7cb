"""Opening a file or URL with PyAV (FFmpeg), and FFmpeg's failures as one-line ``SourceError``s.

Every blocking call runs under PyAV's open/read timeouts, so no source can hang the app.
A URL's password never reaches a message or a log (``redact``).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterator
from typing import cast

import av
import av.audio.stream
import av.container
import av.packet
import av.video.frame
import av.video.stream

from stream.core.errors import SourceError
from stream.core.media import ffmpeg_name, is_url
from stream.sources.base import SourceOptions
from stream.sources.damage import Damage, DamageCountingDecoder
from stream.sources.sniff import LIMIT_KEY, check_pixels, megapixels

# FFmpeg opens plain text as "ANSI art" video (the tty demuxer); that is never what a user meant.
TEXT_FORMATS = frozenset({"tty", "bin", "xbin", "adf", "idf"})
TEXT_CODECS = frozenset({"ansi", "bintext", "xbin", "idf"})
# What FFmpeg raises while demuxing or decoding damaged input or a dropped connection.
DECODE_ERRORS = (av.error.FFmpegError, OSError, ValueError)


class OpenError(SourceError):
    """``SourceError`` that also keeps FFmpeg's short reason (a reconnect log line wants only that)."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


def redact(url: str) -> str:
    """Hide a password in ``scheme://user:password@host`` before it reaches a message or a log."""
    return re.sub(r"(://[^/@:]*):[^/@]*@", r"\1:***@", url)


def first_line(exc: BaseException) -> str:
    """An exception as one short line, without PyAV's ``[Errno N]`` prefix or the quoted target."""
    text = re.sub(r"^\[Errno -?\d+\]\s*", "", str(exc).strip())
    text = text.splitlines()[0] if text else type(exc).__name__
    return redact(re.sub(r": '[^']*'$", "", text))[:200]


class VideoInput:
    """An opened container's best video stream: its frames in order, and how far its packets reached.

    All streams are demuxed (FFmpeg reads their bytes anyway) so that audio longer than the
    video never looks like a cut; only the video stream is decoded. The first audio stream's
    packets go to ``on_audio`` when one is set (a live stream's sound, which cannot be read a
    second time). A packet the decoder cannot decode, and a frame it decoded with errors, are
    counted in ``damage`` and decoding goes on (damage is local: the next frames decode).
    ``next_frame`` lets the demuxer's errors through: whether one is a cut or a dropped
    connection is the caller's call.
    """

    def __init__(self, container: av.container.InputContainer, stream: av.video.stream.VideoStream,
                 name: str = "the video", max_pixels: int | None = None) -> None:
        self.container, self.stream = container, stream
        self.audio_stream: av.audio.stream.AudioStream | None = (container.streams.audio[0]
                                                                 if container.streams.audio else None)
        self.on_audio: Callable[[av.packet.Packet], None] | None = None
        self.name, self.max_pixels = name, max_pixels
        if max_pixels is not None:
            stream.codec_context.options = {"max_pixels": str(max_pixels)}  # FFmpeg refuses a frame that grows past it
        self.packets = 0
        self.packets_end: float | None = None
        self.decoder = DamageCountingDecoder(stream, first_line)
        self._frames = self._decode()

    def _decode(self) -> Iterator[av.video.frame.VideoFrame]:
        for packet in self.container.demux():
            start = packet.pts if packet.pts is not None else packet.dts
            if start is not None and packet.time_base is not None:
                end = float((start + (packet.duration or 0)) * packet.time_base)
                self.packets_end = end if self.packets_end is None else max(self.packets_end, end)
            if packet.stream_index != self.stream.index:
                if self.on_audio is not None and self.audio_stream is not None and packet.size \
                        and packet.stream_index == self.audio_stream.index:
                    self.on_audio(packet)
                continue
            if packet.size or start is not None:
                self.packets += 1
            yield from self._decode_packet(packet)

    def _decode_packet(self, packet: av.Packet) -> list[av.video.frame.VideoFrame]:
        """The packet's frames (damage counted); a frame that grows past ``max_pixels`` mid-stream is one line naming the key."""
        before = self.decoder.damage.frames
        frames = self.decoder.decode(packet)
        if self.max_pixels is not None and self.decoder.damage.frames > before and self.stream.codec_context.width == 0:
            # FFmpeg refused the frame's size (it zeroes a size past its max_pixels): not damage, a setting
            raise SourceError(f"{self.name} grows past {LIMIT_KEY} ({megapixels(self.max_pixels)}) mid-stream; "
                              f"raise {LIMIT_KEY} if this machine has the memory for it, or re-encode the video smaller")
        return frames

    def next_frame(self) -> av.video.frame.VideoFrame | None:
        """The next decoded frame, or None at the end; FFmpeg errors (and timeouts) propagate."""
        try:
            return next(self._frames)
        except (StopIteration, av.error.EOFError):
            return None

    @property
    def damage(self) -> Damage:
        return self.decoder.damage

    @property
    def duration(self) -> float | None:
        """The container's duration in seconds, if it knows one (a live stream does not)."""
        return self.container.duration / 1_000_000 if self.container.duration and self.container.duration > 0 else None

    def close(self) -> None:
        with contextlib.suppress(Exception):  # closing must not mask the real error
            self.container.close()


def open_video(target: str, name: str, options: SourceOptions) -> VideoInput:
    """Open ``target`` and pick its video stream, or raise ``OpenError`` naming ``name`` and the fix."""
    network = is_url(target)
    container_options = {"rtsp_transport": "tcp"} if target.startswith(("rtsp://", "rtsps://")) else {}
    try:
        container = av.open(ffmpeg_name(target), mode="r", timeout=(options.open_timeout, options.read_timeout),
                            container_options=container_options)
    except (FileNotFoundError, av.error.FileNotFoundError):
        if network:
            raise OpenError(f"cannot open {name}: not found on the server; check the URL in --source",
                            "not found") from None
        raise OpenError(f"video file not found: {name}; check --source", "not found") from None
    except av.error.InvalidDataError:
        what = "stream" if network else "file"
        raise OpenError(f"{name} is not a video {what} PyAV/FFmpeg can read (another kind of file, damaged, "
                        "or cut short); check --source", "not a video") from None
    except av.error.EOFError:
        raise OpenError(f"{name} contains no video frames (empty or cut off); check --source", "no data") from None
    except av.error.ExitError:
        raise OpenError(f"opening {name} timed out after {options.open_timeout:g}s; check the address and the network",
                        f"no answer for {options.open_timeout:g}s") from None
    except DECODE_ERRORS as exc:
        raise OpenError(f"cannot open {name} ({first_line(exc)}); check --source", first_line(exc)) from None
    try:
        stream = _video_stream(container, name)
        check_pixels(stream.codec_context.width, stream.codec_context.height, options.max_pixels, name)
        return VideoInput(container, stream, name, options.max_pixels)
    except BaseException:
        container.close()
        raise


def is_picture_format(name: str) -> bool:
    """Whether FFmpeg's demuxer ``name`` reads still pictures (``image2``, ``png_pipe``...), not a video."""
    return name == "image2" or name.endswith("_pipe")


def _video_stream(container: av.container.InputContainer, name: str) -> av.video.stream.VideoStream:
    video = container.streams.video
    if container.format.name in TEXT_FORMATS or any(s.codec_context.name in TEXT_CODECS for s in video):
        raise OpenError(f"{name} is not a video file PyAV/FFmpeg can read (it looks like text); check --source", "text")
    if not video:
        raise OpenError(f"{name} has no video stream; pass a video to --source", "no video stream")
    return cast(av.video.stream.VideoStream, container.streams.best("video") or video[0])

