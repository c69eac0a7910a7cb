"""Where composed frames go: a video file (PyAV), or nowhere (the window is ``stream.window``).

Every sink is a context manager whose ``close`` always leaves its output usable: the
video file is flushed and its container closed even when the run failed half-way, so what
was written so far plays. Frames keep the source's timestamps (``pts``/``time_base``), and
the source file's audio is copied packet for packet, never re-encoded.
"""

from __future__ import annotations

import errno
import logging
import os
import tempfile
from fractions import Fraction
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from stream.errors import OutputError
from stream.frames import Closing, Frame

log = logging.getLogger(__name__)

VIDEO_EXTENSIONS = (".mp4", ".mkv", ".mov", ".avi", ".webm")
FALLBACK_CODEC = "mpeg4"


class Sink(Protocol):
    def write(self, frame: Frame) -> None: ...

    def close(self) -> None: ...

    def __enter__(self) -> Sink: ...

    def __exit__(self, *exc: object) -> None: ...


class NullSink(Closing):
    """Headless and no output file: frames are counted and dropped."""

    def __init__(self) -> None:
        self.frames = 0

    @property
    def frames_written(self) -> int:
        return self.frames

    def write(self, frame: Frame) -> None:
        self.frames += 1


def check_output_path(path: Path) -> None:
    """Fail before any work if the output video cannot be created where asked."""
    path = Path(path)
    if path.is_dir():
        raise OutputError(f"output {path} is a folder; give a file name such as {path / 'out.mp4'}")
    if path.suffix.lower() not in VIDEO_EXTENSIONS:
        raise OutputError(f"output {path} has no video extension FFmpeg writes here; use one of {' '.join(VIDEO_EXTENSIONS)}")
    folder = path.parent
    if not folder.exists():
        raise OutputError(f"output folder {folder} does not exist; create it or choose another --output")
    if not folder.is_dir():
        raise OutputError(f"output folder {folder} is not a folder; choose another --output")
    # a real write, not os.access: permission bits lie to root, and ACLs, read-only mounts
    # and pseudo filesystems refuse what the bits allow
    try:
        if path.exists():
            with open(path, "r+b"):
                pass
        else:
            fd, probe = tempfile.mkstemp(prefix=".depth-stream-", suffix=".probe", dir=folder)
            os.close(fd)
            os.unlink(probe)
    except OSError as exc:
        what = f"output file {path}" if path.exists() else f"output folder {folder}"
        raise OutputError(f"{what} is not writable ({exc.strerror}); choose another --output") from None


def _even(image: np.ndarray) -> np.ndarray:
    """yuv420p needs even sides: repeat the last row/column where a side is odd."""
    height, width = image.shape[:2]
    pad_h, pad_w = height % 2, width % 2
    if pad_h or pad_w:
        image = cv2.copyMakeBorder(image, 0, pad_h, 0, pad_w, cv2.BORDER_REPLICATE)
    return image


def _encoder_available(name: str) -> bool:
    import av

    try:
        av.Codec(name, "w")
    except (av.error.FFmpegError, ValueError):
        return False
    return True


class VideoFileSink(Closing):
    """H.264 (yuv420p) through PyAV, timestamps from the source, audio copied untouched.

    The container opens on the first frame (its size fixes the stream's). A frame's
    ``pts``/``time_base`` are rescaled to the output stream and kept strictly increasing;
    frames without a timestamp are placed by count at ``fps``. Without audio the first frame
    is moved to time 0; with audio the source timeline is kept so sound stays in sync.
    """

    def __init__(self, path: Path, fps: float, time_base: Fraction | None = None, audio_from: str | None = None,
                 codec: str = "libx264", crf: int = 23, preset: str = "veryfast") -> None:
        self.path = Path(path)
        self.fps = float(fps) if fps and fps > 0 else 30.0
        self.rate = Fraction(self.fps).limit_denominator(1001)
        self.source_time_base = time_base
        self.audio_from = audio_from
        self.codec = codec
        self.crf = crf
        self.preset = preset
        self.frames_written = 0
        self.audio_packets_written = 0
        self.container = None
        self.stream = None
        self._audio_in = None
        self._audio_out = None
        self._audio_packets = None
        self._pending_audio = None
        self._pts_shift: int | None = None
        self._last_pts: int | None = None
        self._end_seconds = 0.0
        self._closed = False

    # -- opening ---------------------------------------------------------------------
    def _choose_codec(self, container) -> str:
        codec = self.codec
        if not _encoder_available(codec):
            log.warning("video codec %s is not available in this FFmpeg; writing %s instead", codec, FALLBACK_CODEC)
            codec = FALLBACK_CODEC
        supported = container.supported_codecs
        if codec not in supported and av_codec_name(codec) not in supported:
            fallback = container.default_video_codec
            log.warning("%s files cannot hold %s video; writing %s instead", self.path.suffix, codec, fallback)
            codec = fallback
        return codec

    def _open(self, width: int, height: int) -> None:
        import av

        with_audio = bool(self.audio_from)
        while True:
            try:
                container = av.open(str(self.path), mode="w")
            except (av.error.FFmpegError, OSError, ValueError) as exc:
                raise OutputError(f"cannot create {self.path} ({exc}); choose another --output") from None
            self.container = container
            try:
                self._add_streams(container, width, height, with_audio)
                container.start_encoding()
                return
            except BaseException as exc:
                audio_refused = self._audio_out is not None and isinstance(exc, (av.error.FFmpegError, ValueError))
                self._discard(container)
                if not audio_refused:
                    if isinstance(exc, (av.error.FFmpegError, ValueError)):
                        raise OutputError(f"cannot write video to {self.path} ({exc}); choose another --output") from None
                    raise
                log.warning("%s files refused the source's audio (%s); writing the video without sound", self.path.suffix, exc)
                with_audio = False

    def _discard(self, container) -> None:
        """Undo a half-made container (its file is rewritten by the next attempt)."""
        self.container = self.stream = self._audio_out = self._audio_packets = None
        if self._audio_in is not None:
            self._audio_in.close()
            self._audio_in = None
        try:
            container.close()
        except Exception:  # noqa: BLE001 - the first error is the one to report
            pass

    def _add_streams(self, container, width: int, height: int, with_audio: bool) -> None:
        codec = self._choose_codec(container)
        options = {}
        if codec == "libx264":
            options = {"crf": str(self.crf), "preset": self.preset}
        elif codec in ("libvpx-vp9", "libvpx", "vp9", "vp8"):
            options = {"crf": str(max(4, min(63, self.crf + 10))), "b": "0", "deadline": "realtime", "cpu-used": "8"}
        self.stream = container.add_stream(codec, rate=self.rate, options=options)
        self.stream.width, self.stream.height = width, height
        self.stream.pix_fmt = "yuv420p"
        if codec == FALLBACK_CODEC:
            self.stream.bit_rate = int(min(20e6, max(1e6, width * height * self.fps * 0.2)))
        time_base = self.source_time_base or 1 / self.rate
        if container.format.name == "avi" or (codec == FALLBACK_CODEC and time_base.denominator > 65535):
            time_base = 1 / self.rate  # AVI counts frames; MPEG-4 part 2 caps the time base
        self.stream.codec_context.time_base = time_base
        self.stream.time_base = time_base
        if with_audio:
            self._open_audio()

    def _open_audio(self) -> None:
        import av

        assert self.container is not None
        try:
            audio_in = av.open(str(self.audio_from), mode="r")
        except (av.error.FFmpegError, OSError, ValueError) as exc:
            log.warning("not copying audio from %s: %s", self.audio_from, exc)
            return
        if not audio_in.streams.audio:
            audio_in.close()
            return
        template = audio_in.streams.audio[0]
        codec = template.codec_context.codec
        name = getattr(codec, "canonical_name", None) or codec.name
        if name not in self.container.supported_codecs:
            log.warning("%s files cannot hold %s audio; writing the video without sound", self.path.suffix, name)
            audio_in.close()
            return
        try:
            self._audio_out = self.container.add_stream_from_template(template)
        except (av.error.FFmpegError, ValueError) as exc:
            log.warning("not copying %s audio from %s: %s", name, self.audio_from, exc)
            audio_in.close()
            return
        self._audio_in = audio_in
        self._audio_packets = audio_in.demux(template)

    # -- writing ---------------------------------------------------------------------
    def _next_pts(self, frame: Frame) -> int:
        assert self.stream is not None
        time_base = self.stream.codec_context.time_base
        if frame.pts is not None and frame.time_base is not None:
            pts = round(frame.pts * Fraction(frame.time_base) / time_base)
        else:
            pts = round(self.frames_written / self.rate / time_base)
        if self._pts_shift is None:
            self._pts_shift = -pts if self._audio_out is None else 0
        pts += self._pts_shift
        if self._last_pts is not None and pts <= self._last_pts:
            pts = self._last_pts + 1
        self._last_pts = pts
        self._end_seconds = float(pts * time_base + 1 / self.rate)
        return pts

    def write(self, frame: Frame) -> None:
        import av

        if self._closed:
            raise OutputError(f"{self.path} is already closed")
        image = frame.image
        if image.ndim == 2:
            image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
        image = _even(image)
        if self.container is None:
            self._open(image.shape[1], image.shape[0])
        assert self.stream is not None and self.container is not None
        if image.shape[1] != self.stream.width or image.shape[0] != self.stream.height:
            image = cv2.resize(image, (self.stream.width, self.stream.height), interpolation=cv2.INTER_AREA)
        # every stream is yuv420p (_add_streams); OpenCV's SIMD conversion is ~3x faster
        # than letting the encoder call swscale
        yuv = cv2.cvtColor(np.ascontiguousarray(image, dtype=np.uint8), cv2.COLOR_BGR2YUV_I420)
        video_frame = av.VideoFrame.from_ndarray(yuv, format="yuv420p")
        video_frame.pts = self._next_pts(frame)
        video_frame.time_base = self.stream.codec_context.time_base
        try:
            for packet in self.stream.encode(video_frame):
                self.container.mux(packet)
        except OSError as exc:
            raise OutputError(self._write_failed(exc)) from None
        self.frames_written += 1
        self._copy_audio(until=self._end_seconds)

    def _write_failed(self, exc: OSError) -> str:
        if exc.errno == errno.ENOSPC:
            return f"disk full while writing {self.path}; free space or choose another --output"
        return f"writing {self.path} failed ({exc}); choose another --output"

    def _copy_audio(self, until: float) -> None:
        """Mux source audio packets that start before ``until`` seconds, untouched."""
        import av

        if self._audio_packets is None or self.container is None:
            return
        while True:
            packet = self._pending_audio
            if packet is None:
                try:
                    packet = next(self._audio_packets, None)
                except (av.error.FFmpegError, OSError, ValueError) as exc:
                    log.warning("stopped copying audio from %s: %s", self.audio_from, exc)
                    packet = None
                if packet is None:
                    self._audio_packets = None
                    return
                if packet.dts is None or packet.size == 0:
                    continue
            start = packet.pts if packet.pts is not None else packet.dts
            if float(start * packet.time_base) >= until:
                self._pending_audio = packet
                return
            self._pending_audio = None
            packet.stream = self._audio_out
            self.container.mux(packet)
            self.audio_packets_written += 1

    def close(self) -> None:
        """Flush the encoder and close the container: the file is playable afterwards."""
        if self._closed:
            return
        self._closed = True
        try:
            if self.container is not None and self.stream is not None:
                for packet in self.stream.encode(None):
                    self.container.mux(packet)
                self._copy_audio(until=self._end_seconds)
        finally:
            try:
                if self.container is not None:
                    self.container.close()
            finally:
                if self._audio_in is not None:
                    self._audio_in.close()
                    self._audio_in = None


def av_codec_name(encoder: str) -> str:
    """The codec an encoder writes (``libx264`` -> ``h264``), for container checks."""
    import av

    try:
        return av.Codec(encoder, "w").canonical_name
    except (av.error.FFmpegError, ValueError):
        return encoder
