"""Where frames come from: webcams (OpenCV), files and network streams (PyAV), a synthetic scene.

Every source is a context manager with ``read() -> Frame | None`` (None = end of stream)
and an ``info`` describing it. Frames keep the timestamp the source gave them (PyAV's
``pts`` in the stream's ``time_base``; a webcam's milliseconds since it opened; the
synthetic scene's frame index in ``1/fps``), so sinks can write the source's timing.

Failures a user can cause become ``SourceError`` (bad path, not a video, no frames, damaged
or truncated file) with a one-line message naming the source and the fix; a live source
that stops and cannot be brought back becomes ``SourceLostError``. Every blocking PyAV call
runs under a timeout, so no source can hang the app.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import re
import sys
import time
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from stream.errors import SourceError, SourceLostError
from stream.frames import Closing, Frame

log = logging.getLogger(__name__)

DEFAULT_FPS = 30.0
# FFmpeg opens plain text as "ANSI art" video (the tty demuxer); that is never what a user meant.
TEXT_FORMATS = frozenset({"tty", "bin", "xbin", "adf", "idf"})
TEXT_CODECS = frozenset({"ansi", "bintext", "xbin", "idf"})
# Containers whose header states the duration (rather than FFmpeg estimating it from the
# bytes present), so a file that ends well before it is cut short, not merely short.
DECLARED_DURATION_FORMATS = frozenset({"matroska", "webm", "mov", "mp4", "flv", "asf"})
# Declared frame counts and durations can be off by a frame or two (encoder delay, rounding).
TRUNCATION_TOLERANCE_FRAMES = 2


@dataclass
class SourceInfo:
    """What the rest of the app needs to know about a source before the first frame."""

    width: int
    height: int
    fps: float
    frame_count: int | None
    time_base: Fraction | None
    is_live: bool
    description: str
    audio_path: str | None = None


class Source(Protocol):
    info: SourceInfo

    def read(self) -> Frame | None: ...

    def close(self) -> None: ...

    def __enter__(self) -> Source: ...

    def __exit__(self, *exc: object) -> None: ...


def _frame_time_base(fps: float) -> Fraction:
    return 1 / Fraction(fps).limit_denominator(1001)


class SyntheticSource(Closing):
    """A deterministic moving scene (textured gradient, moving discs): a camera for tests and demos.

    With ``realtime=True`` reads are paced to ``fps`` like a camera (a slow reader is not
    "caught up" with a burst; the schedule restarts from now), and the source reports live.
    """

    def __init__(self, width: int = 640, height: int = 480, fps: float = DEFAULT_FPS, num_frames: int | None = None,
                 realtime: bool = False, seed: int = 0) -> None:
        if width < 2 or height < 2 or fps <= 0:
            raise SourceError(f"bad synthetic source {width}x{height} @ {fps} fps; use e.g. synthetic:640x480")
        self.width, self.height, self.fps = int(width), int(height), float(fps)
        self.num_frames = num_frames
        self.realtime = realtime
        self.index = 0
        self._next_due: float | None = None
        rng = np.random.default_rng(seed)
        ys = np.linspace(0.0, 1.0, self.height, dtype=np.float32)[:, None]
        xs = np.linspace(0.0, 1.0, self.width, dtype=np.float32)[None, :]
        base = np.empty((self.height, self.width, 3), np.float32)
        base[..., 0] = 200 - 120 * ys + 20 * xs
        base[..., 1] = 120 + 60 * ys
        base[..., 2] = 60 + 150 * ys * ys
        texture = rng.normal(0, 6, (self.height, self.width, 1)).astype(np.float32)
        self._background = np.clip(base + texture, 0, 255).astype(np.uint8)
        self._discs = [
            (rng.uniform(0.0, 6.28), rng.uniform(0.25, 0.85), rng.uniform(0.05, 0.2), rng.uniform(0.5, 2.0),
             tuple(int(c) for c in rng.integers(30, 255, 3)))
            for _ in range(4)
        ]
        self.info = SourceInfo(self.width, self.height, self.fps, num_frames, _frame_time_base(self.fps), realtime,
                               f"synthetic {self.width}x{self.height}")

    def render(self, index: int) -> np.ndarray:
        """The picture for frame ``index`` (the same index always gives the same picture)."""
        image = self._background.copy()
        t = index / self.fps
        scale = min(self.width, self.height)
        for phase, cy, radius, speed, colour in self._discs:
            x = int(self.width * (0.5 + 0.4 * math.sin(speed * t + phase)))
            y = int(self.height * (cy + 0.05 * math.cos(speed * t)))
            cv2.circle(image, (x, y), max(2, int(radius * scale)), colour, -1, cv2.LINE_AA)
        return image

    def read(self) -> Frame | None:
        if self.num_frames is not None and self.index >= self.num_frames:
            return None
        if self.realtime:
            now = time.monotonic()
            if self._next_due is None or self._next_due < now:
                self._next_due = now
            elif self._next_due > now:
                time.sleep(self._next_due - now)
            self._next_due += 1.0 / self.fps
        frame = Frame(self.render(self.index), self.index, pts=self.index, time_base=self.info.time_base)
        self.index += 1
        return frame


def _camera_backends() -> list[tuple[str, int]]:
    if sys.platform.startswith("linux"):
        return [("V4L2", cv2.CAP_V4L2), ("any", cv2.CAP_ANY)]
    if sys.platform == "darwin":
        return [("AVFoundation", cv2.CAP_AVFOUNDATION), ("any", cv2.CAP_ANY)]
    if sys.platform.startswith("win"):
        return [("MSMF", cv2.CAP_MSMF), ("DirectShow", cv2.CAP_DSHOW), ("any", cv2.CAP_ANY)]
    return [("any", cv2.CAP_ANY)]


class _QuietOpenCV:
    """OpenCV logs a warning per failed open attempt; we report one line ourselves instead."""

    def __enter__(self) -> None:
        self._level = None
        try:
            self._level = cv2.utils.logging.getLogLevel()
            cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
        except (AttributeError, cv2.error):
            pass

    def __exit__(self, *_exc: object) -> None:
        if self._level is not None:
            cv2.utils.logging.setLogLevel(self._level)


class WebcamSource(Closing):
    """A local camera through OpenCV, asking for a one-frame driver buffer so frames are fresh.

    Frames carry milliseconds since the camera opened (``time_base`` 1/1000). A camera that
    delivers nothing for ``read_timeout`` seconds raises ``SourceLostError``.
    """

    def __init__(self, index: int, width: int | None = None, height: int | None = None, fps: float | None = None,
                 read_timeout: float = 10.0) -> None:
        self.device = int(index)
        self.read_timeout = read_timeout
        self.capture: cv2.VideoCapture | None = None
        tried: list[str] = []
        with _QuietOpenCV():
            for name, backend in _camera_backends():
                tried.append(name)
                capture = cv2.VideoCapture(self.device, backend)
                if capture.isOpened():
                    self.capture = capture
                    break
                capture.release()
        if self.capture is None:
            devices = sorted(str(p) for p in Path("/dev").glob("video*")) if sys.platform.startswith("linux") else []
            found = f"found {' '.join(devices)}" if devices else "no /dev/video* devices found"
            raise SourceError(
                f"webcam {self.device} did not open (tried index {self.device} with OpenCV backends {', '.join(tried)}; "
                f"{found}); check --source (list cameras with 'ls /dev/video*') or use a video file or 'synthetic'"
            )
        self.capture.set(cv2.CAP_PROP_BUFFERSIZE, 1)
        if width:
            self.capture.set(cv2.CAP_PROP_FRAME_WIDTH, width)
        if height:
            self.capture.set(cv2.CAP_PROP_FRAME_HEIGHT, height)
        if fps:
            self.capture.set(cv2.CAP_PROP_FPS, fps)
        got_fps = self.capture.get(cv2.CAP_PROP_FPS)
        got_fps = got_fps if got_fps and 0 < got_fps < 1000 else (fps or DEFAULT_FPS)
        self.info = SourceInfo(
            int(self.capture.get(cv2.CAP_PROP_FRAME_WIDTH)), int(self.capture.get(cv2.CAP_PROP_FRAME_HEIGHT)),
            float(got_fps), None, Fraction(1, 1000), True, f"webcam {self.device}",
        )
        self._opened_at = time.monotonic()
        self._count = 0
        self._last_pts = -1

    def read(self) -> Frame | None:
        if self.capture is None:
            raise SourceLostError(f"webcam {self.device} was closed; restart the app")
        deadline = time.monotonic() + self.read_timeout
        while True:
            ok, image = self.capture.read()
            if ok and image is not None and image.size:
                break
            if time.monotonic() > deadline:
                raise SourceLostError(
                    f"webcam {self.device} delivered no frame for {self.read_timeout:g}s; check its cable or that no other app holds it"
                )
            time.sleep(0.02)
        now = time.monotonic()
        if image.ndim == 2:
            image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
        pts = max(int((now - self._opened_at) * 1000), self._last_pts + 1)
        self._last_pts = pts
        frame = Frame(image, self._count, pts=pts, time_base=Fraction(1, 1000), captured_at=now)
        self._count += 1
        return frame

    def close(self) -> None:
        if self.capture is not None:
            self.capture.release()
            self.capture = None


def _first_line(exc: BaseException) -> str:
    """An exception as one short line, without PyAV's ``[Errno N]`` prefix."""
    text = re.sub(r"^\[Errno -?\d+\]\s*", "", str(exc).strip())
    text = text.splitlines()[0] if text else type(exc).__name__
    return _redact(re.sub(r": '[^']*'$", "", text))[:200]


def _redact(url: str) -> str:
    """Hide a password in ``scheme://user:password@host`` before it reaches a message or a log."""
    return re.sub(r"(://[^/@:]*):[^/@]*@", r"\1:***@", url)


def is_url(spec: str) -> bool:
    return "://" in spec and not spec.startswith("file://")


class AVSource(Closing):
    """Files and network streams through PyAV (FFmpeg), decoded to BGR with their own timestamps.

    Files: every frame, in order, with the stream's ``pts``/``time_base``; a damaged file
    raises ``SourceError`` naming the frame where decoding failed. A file cut short first
    delivers every frame before the cut, then ``read`` raises ``SourceError`` saying it is
    truncated, when the container declared more (a frame count, or a duration in its
    header) than its packets reached; formats that declare neither (MPEG-TS, NUT) simply
    end. Network streams in live mode: an error or an end is a drop; the stream is
    reopened with exponential backoff, up to ``reconnect_attempts`` times, then
    ``SourceLostError`` (with ``reconnect_attempts=0`` an end is simply the end). Timestamps
    continue across a reconnect. A local file read live (``--realtime``) is paced to its own
    timestamps, like a camera.
    """

    def __init__(self, url_or_path: str, live: bool, reconnect_attempts: int = 5, reconnect_backoff: float = 0.5,
                 open_timeout: float = 10.0, read_timeout: float = 10.0) -> None:
        self.target = str(url_or_path)
        self.is_network = is_url(self.target)
        self.live = bool(live)
        self.reconnect_attempts = max(0, int(reconnect_attempts))
        self.reconnect_backoff = max(0.0, float(reconnect_backoff))
        self.open_timeout = float(open_timeout)
        self.read_timeout = float(read_timeout)
        self.name = _redact(self.target)
        if not self.is_network:
            path = Path(self.target.removeprefix("file://"))
            if not path.exists():
                raise SourceError(f"video file not found: {self.name}; check --source")
            if path.is_dir():
                raise SourceError(f"{self.name} is a folder, not a video file; pass a file to --source")
            if path.stat().st_size == 0:
                raise SourceError(f"{self.name} is empty (0 bytes), not a video; check --source")
        self.container = None
        self.stream = None
        self._frames = None
        self._count = 0
        self._packets = 0
        self._packets_end: float | None = None
        self._lost = False
        self._last_pts: int | None = None
        self._pts_offset = 0
        self._rebase = False
        self._pace_origin: tuple[float, float] | None = None
        self._open()
        stream = self.stream
        rate = stream.average_rate or stream.guessed_rate
        fps = float(rate) if rate and 0 < float(rate) < 1000 else DEFAULT_FPS
        self.time_base: Fraction = stream.time_base or _frame_time_base(fps)
        self._frame_ticks = max(1, round(1 / (fps * self.time_base)))
        frame_count = stream.frames if stream.frames and not (self.is_network and self.live) else None
        audio = str(self.target) if not self.is_network and self.container.streams.audio else None
        self.info = SourceInfo(
            int(stream.codec_context.width), int(stream.codec_context.height), fps, frame_count, self.time_base,
            self.live, self.name, audio,
        )

    def _open(self) -> None:
        import av

        options: dict[str, str] = {}
        if self.target.startswith(("rtsp://", "rtsps://")):
            options["rtsp_transport"] = "tcp"
        try:
            container = av.open(self.target, mode="r", timeout=(self.open_timeout, self.read_timeout),
                                container_options=options)
        except (FileNotFoundError, av.error.FileNotFoundError):
            if self.is_network:
                raise SourceError(f"cannot open {self.name}: not found on the server; check the URL in --source") from None
            raise SourceError(f"video file not found: {self.name}; check --source") from None
        except av.error.InvalidDataError:
            what = "stream" if self.is_network else "file"
            raise SourceError(
                f"{self.name} is not a video {what} PyAV/FFmpeg can read (another kind of file, damaged, or cut short); "
                "check --source"
            ) from None
        except av.error.EOFError:
            raise SourceError(f"{self.name} contains no video frames (empty or cut off); check --source") from None
        except av.error.ExitError:
            raise SourceError(f"opening {self.name} timed out after {self.open_timeout:g}s; check the address and the network") from None
        except (av.error.FFmpegError, OSError, ValueError) as exc:
            error = SourceError(f"cannot open {self.name} ({_first_line(exc)}); check --source")
            error.reason = _first_line(exc)
            raise error from None
        try:
            video = container.streams.video
            if container.format.name in TEXT_FORMATS or any(s.codec_context.name in TEXT_CODECS for s in video):
                raise SourceError(f"{self.name} is not a video file PyAV/FFmpeg can read (it looks like text); check --source")
            if not video:
                raise SourceError(f"{self.name} has no video stream; pass a video to --source")
            stream = container.streams.best("video") or video[0]
            stream.thread_type = "AUTO"
        except BaseException:
            container.close()
            raise
        self.container, self.stream = container, stream
        self._frames = self._decode(container, stream)

    def _decode(self, container, stream):
        """Decode ``stream``'s frames, counting its packets and how far any stream's packets reach.

        All streams are demuxed (FFmpeg reads their bytes anyway) so that audio longer than
        the video never looks like a cut; only the video stream is decoded.
        """
        self._packets, self._packets_end = 0, None
        for packet in container.demux():
            start = packet.pts if packet.pts is not None else packet.dts
            if start is not None and packet.time_base is not None:
                end = float((start + (packet.duration or 0)) * packet.time_base)
                self._packets_end = end if self._packets_end is None else max(self._packets_end, end)
            if packet.stream_index != stream.index:
                continue
            if packet.size or start is not None:
                self._packets += 1
            yield from packet.decode()

    def _truncation(self) -> str | None:
        """How a file that ended looks cut short against what its container declared, or None.

        A declared frame count is compared with the video packets read (not frames decoded: an
        edit list may legitimately hide some); where the header also declares a duration, it
        must be short too (an edit list may also trim the tail). Without a frame count, a
        header duration alone decides.
        """
        container, stream = self.container, self.stream
        if container is None or stream is None:
            return None
        fps = self.info.fps
        declared_end = None
        if container.duration and set(container.format.name.split(",")) & DECLARED_DURATION_FORMATS:
            declared_end = ((container.start_time or 0) + container.duration) / 1_000_000
        reached = self._packets_end
        time_short = (declared_end is not None and reached is not None
                      and reached < declared_end - (TRUNCATION_TOLERANCE_FRAMES + 0.5) / fps)
        declared_frames = stream.frames or 0
        if declared_frames:
            if self._packets < declared_frames - TRUNCATION_TOLERANCE_FRAMES and (declared_end is None or time_short):
                return f"decoded {self._count} of {declared_frames} frames"
            return None
        if time_short:
            return f"decoded {self._count} frames ({reached:.2f}s of the {declared_end:.2f}s its header declares)"
        return None

    def _reconnect(self, reason: str) -> None:
        """Reopen a dropped network stream with exponential backoff, or raise ``SourceLostError``."""
        delay = self.reconnect_backoff
        last = reason
        for attempt in range(1, self.reconnect_attempts + 1):
            log.warning("%s dropped (%s); reconnecting in %.2fs (attempt %d/%d)", self.name, last, delay, attempt,
                        self.reconnect_attempts)
            time.sleep(delay)
            delay *= 2
            self._close_container()
            try:
                self._open()
            except SourceError as exc:
                last = getattr(exc, "reason", None) or str(exc)
                continue
            self._rebase = True
            log.warning("reconnected to %s", self.name)
            return
        self._lost = True
        tried = (f"{self.reconnect_attempts} reconnect attempt(s) failed" if self.reconnect_attempts
                 else "reconnecting is off (reconnect_attempts=0)")
        raise SourceLostError(f"{self.name} stopped delivering ({last}) and {tried}; check the stream and the network")

    def _next_av_frame(self):
        """The next decoded frame, or (None, why) when the stream ended or dropped."""
        import av

        try:
            return next(self._frames), ""
        except (StopIteration, av.error.EOFError):
            return None, ""
        except av.error.ExitError:
            if self.is_network and self.live:
                return None, f"no data for {self.read_timeout:g}s"
            raise SourceError(f"reading {self.name} timed out after {self.read_timeout:g}s at frame {self._count}; check --source") from None
        except (av.error.FFmpegError, OSError, ValueError) as exc:
            if self.is_network and self.live:
                return None, _first_line(exc)
            raise SourceError(
                f"{self.name} is damaged or truncated: decoding failed at frame {self._count} ({_first_line(exc)}); "
                "re-copy or re-encode the file"
            ) from None

    def read(self) -> Frame | None:
        if self._lost:
            raise SourceLostError(f"{self.name} was lost earlier; check the stream and the network")
        while True:
            if self.container is None:
                return None
            av_frame, error = self._next_av_frame()
            if av_frame is not None:
                break
            if self.is_network and self.live and (error or self.reconnect_attempts > 0):
                self._reconnect(error or "the stream ended")
                continue
            if self._count == 0:
                raise SourceError(f"{self.name} contains no decodable video frames; check --source")
            if not (self.is_network and self.live):
                cut = self._truncation()
                if cut is not None:
                    raise SourceError(f"{self.name} is truncated: {cut}, then the file ends; re-copy or re-encode it")
            return None
        image = av_frame.to_ndarray(format="bgr24")
        frame = Frame(image, self._count, pts=self._timestamp(av_frame), time_base=self.time_base)
        if self.live and not self.is_network:
            frame = self._pace(frame)
        self._count += 1
        return frame

    def _timestamp(self, av_frame) -> int | None:
        """The frame's own pts in ``self.time_base``; continued across reconnects; filled in if missing."""
        pts = av_frame.pts
        if pts is not None and av_frame.time_base is not None and av_frame.time_base != self.time_base:
            pts = round(pts * av_frame.time_base / self.time_base)
        if pts is None:
            if self._last_pts is not None:
                self._last_pts += self._frame_ticks
            return self._last_pts
        if self._rebase:
            self._rebase = False
            if self._last_pts is not None:
                self._pts_offset = self._last_pts + self._frame_ticks - pts
        pts += self._pts_offset
        self._last_pts = pts
        return pts

    def _pace(self, frame: Frame) -> Frame:
        """A file played "live" (--realtime) delivers frames at its own rate, like a camera."""
        seconds = frame.seconds if frame.seconds is not None else self._count / self.info.fps
        now = time.monotonic()
        if self._pace_origin is None:
            self._pace_origin = (seconds, now)
        delay = self._pace_origin[1] + (seconds - self._pace_origin[0]) - now
        if delay > 0:
            time.sleep(delay)
        return dataclasses.replace(frame, captured_at=time.monotonic())

    def _close_container(self) -> None:
        container, self.container, self._frames = self.container, None, None
        if container is not None:
            try:
                container.close()
            except Exception as exc:  # noqa: BLE001 - closing must not mask the real error
                log.debug("closing %s: %s", self.name, exc)

    def close(self) -> None:
        self._close_container()


def open_source(spec: str, *, live: bool | None = None, width: int | None = None, height: int | None = None,
                fps: float | None = None, reconnect_attempts: int = 5, reconnect_backoff: float = 0.5,
                open_timeout: float = 10.0, read_timeout: float = 10.0) -> Source:
    """``synthetic[:WxH]``, a webcam index, a URL or a file path -> an open source.

    ``live`` None means "what the source is": URLs and cameras are live, files are not.
    """
    spec = str(spec).strip()
    if spec == "synthetic" or spec.startswith("synthetic:"):
        size = spec.partition(":")[2]
        w, h = width or 640, height or 480
        if size:
            match = re.fullmatch(r"(\d+)[xX](\d+)", size)
            if not match:
                raise SourceError(f"bad synthetic size {size!r}; use e.g. synthetic:640x480")
            w, h = int(match.group(1)), int(match.group(2))
        return SyntheticSource(w, h, fps or DEFAULT_FPS, realtime=bool(live))
    if spec.isdigit():
        return WebcamSource(int(spec), width, height, fps, read_timeout=read_timeout)
    if not spec:
        raise SourceError("no source given; pass --source (a file, a URL, a webcam index or 'synthetic')")
    if is_url(spec):
        return AVSource(spec, live=True if live is None else live, reconnect_attempts=reconnect_attempts,
                        reconnect_backoff=reconnect_backoff, open_timeout=open_timeout, read_timeout=read_timeout)
    path = Path(spec.removeprefix("file://"))
    if not path.exists():
        raise SourceError(f"video file not found: {spec}; check --source")
    return AVSource(spec, live=bool(live), open_timeout=open_timeout, read_timeout=read_timeout)
