"""The stream sink: composed frames sent on as they are made (UDP, SRT, RTMP, standard output, a named pipe).

The display thread only stamps each frame with the live clock and drops it into a small
"latest wins" channel; a sender thread encodes (H.264, x264 ``zerolatency``, no B-frames, a
keyframe every second) and writes. So a slow receiver, a full pipe or a stalled connection
never holds up the pipeline: frames it cannot take are dropped and counted. A receiver that
goes away where there is a connection (RTMP, SRT, a pipe, standard output) ends the run in one
line with the stream finalized; over UDP nobody can go away, so sending goes on. Failing to
reach the receiver at all is an error of the run (exit 1), raised from ``write`` or ``close``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from fractions import Fraction
from typing import Any

import numpy as np

from stream.core.channels import ChannelClosed, FrameChannel
from stream.core.errors import OutputWriteError
from stream.core.frames import Closing, Frame
from stream.sinks.colour import bgr_to_yuv420, fit, tag_bt709
from stream.sinks.crashsafe import KEYFRAME_SECONDS, keyframe_interval
from stream.sinks.encoder import EncoderSettings, add_video_stream
from stream.sinks.endpoint import Endpoint
from stream.sinks.targets import StreamTarget
from stream.sources.av_open import DECODE_ERRORS, first_line

log = logging.getLogger(__name__)

QUEUE_FRAMES = 4
CLOSE_SECONDS = 5.0
CLOCK = Fraction(1, 1000)  # frames are placed on the live clock in milliseconds
# MPEG-TS: each packet out at once, and each frame's PES carries its length, so a receiver has the
# frame when it arrives rather than when the next one starts; FLV over RTMP cannot seek back to its header
MUXER_OPTIONS = {"mpegts": {"flush_packets": "1", "omit_video_pes_length": "0"}, "flv": {"flvflags": "no_duration_filesize"}}
SEND_ERRORS = DECODE_ERRORS  # what FFmpeg raises, reading or writing: a refused or dropped connection, a broken pipe


class StreamSink(Closing):
    """Sends the side-by-side to ``target``; ``on_gone`` ends the run when a connected receiver leaves."""

    def __init__(self, target: StreamTarget, fps: float, encoder: EncoderSettings,
                 on_gone: Callable[[], None] | None = None) -> None:
        self.target = target
        self.fps = float(fps) if fps and fps > 0 else 30.0
        self.encoder = EncoderSettings(encoder.codec, encoder.crf, encoder.preset, live=True, zerolatency=True)
        self.on_gone = on_gone
        self.endpoint = Endpoint(target)  # standard output is taken now, before the model loads
        self.frames: FrameChannel[tuple[np.ndarray, float]] = FrameChannel(QUEUE_FRAMES, latest=True)
        self.frames_written = 0
        self.error: OutputWriteError | None = None
        self.gone = False
        self._raised = False
        self._closed = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._send_failures = 0

    @property
    def dropped(self) -> int:
        return self.frames.dropped

    def write(self, frame: Frame) -> None:
        """Hand the frame to the sender (never waits); raises the sender's error once, if it had one."""
        self._raise_once()
        if self.gone:
            return
        if self._thread is None:
            self._thread = threading.Thread(target=self._send_all, name="depth-sender", daemon=True)
            self._thread.start()
        self.frames.put((frame.image, time.monotonic()))

    def _raise_once(self) -> None:
        if self.error is not None and not self._raised:
            self._raised = True
            raise self.error

    # -- the sender thread -------------------------------------------------------------
    def _send_all(self) -> None:
        sender: _Encoder | None = None
        try:
            while True:
                try:
                    item = self.frames.get(timeout=0.1)
                except ChannelClosed:
                    break
                if item is None:
                    continue
                image, stamp = item
                if sender is None:
                    sender = self._connect(image)
                    if sender is None:
                        return
                if not self._send(sender, image, stamp):
                    return
            if sender is not None:
                sender.finish()
        except SEND_ERRORS as exc:
            if self.target.connected:
                self._lost(exc)
        except Exception as exc:  # noqa: BLE001 - a thread's failure must reach the run, not die with it
            self.error = OutputWriteError(f"sending to {self.target.label} failed ({type(exc).__name__}: {first_line(exc)})")
            self._end_run()
        finally:
            if sender is not None:
                sender.close()
            self.endpoint.close_fd()

    def _connect(self, image: np.ndarray) -> _Encoder | None:
        try:
            url = self.endpoint.open(self._stop)
            if url is None:
                return None
            return _Encoder(url, self.target.container, self.encoder, self.fps, image)
        except SEND_ERRORS as exc:
            self.error = OutputWriteError(f"cannot send to {self.target.label} ({first_line(exc)}); "
                                          "start the receiver first, or check --output")
            self._end_run()
            return None

    def _send(self, sender: _Encoder, image: np.ndarray, stamp: float) -> bool:
        """Encode and write one frame; False once the receiver is gone."""
        try:
            sender.send(image, stamp)
        except SEND_ERRORS as exc:
            if self.target.connected:
                self._lost(exc)
                return False
            self._send_failures += 1
            if self._send_failures == 1:
                log.warning("sending to %s failed (%s); still sending", self.target.label, first_line(exc))
            return True
        self.frames_written += 1
        return True

    def _lost(self, exc: BaseException) -> None:
        if self.gone:
            return
        self.gone = True
        log.warning("the receiver of %s went away (%s); ending the run after %d frames sent",
                    self.target.label, first_line(exc), self.frames_written)
        self._end_run()

    def _end_run(self) -> None:
        if self.on_gone is not None:
            self.on_gone()

    # -- closing -----------------------------------------------------------------------
    def close(self) -> None:
        """Send what is queued, finalize the stream, give back the endpoint; raise a send error not yet raised."""
        if self._closed:
            return
        self._closed = True
        self._stop.set()  # a named pipe still waiting for its reader stops waiting
        self.frames.close()
        if self._thread is None:
            self.endpoint.close_fd()
        else:
            self._thread.join(CLOSE_SECONDS)
            if self._thread.is_alive():  # blocked in a write: it closes the descriptor when that returns
                log.warning("%s took no data for %.0f s; leaving it", self.target.label, CLOSE_SECONDS)
        self.endpoint.restore()
        if self._thread is not None and self.error is None and not self.gone:  # gone: its one line said it all
            dropped = f", {self.dropped} dropped (the receiver or the network was slower)" if self.dropped else ""
            log.info("sent %d frames to %s%s", self.frames_written, self.target.label, dropped)
        self._raise_once()


class _Encoder:
    """The open container and its H.264 stream, timed by the live clock from the first frame."""

    def __init__(self, url: str, container_format: str, encoder: EncoderSettings, fps: float, first: np.ndarray) -> None:
        import av

        self.container: Any = av.open(url, mode="w", format=container_format,
                                      container_options=MUXER_OPTIONS.get(container_format, {}))
        try:
            height, width = fit(first).shape[:2]
            rate = Fraction(fps).limit_denominator(1001)
            self.stream = add_video_stream(self.container, encoder, rate, width, height, CLOCK, keyframe_interval(fps))
            tag_bt709(self.stream.codec_context)
            self.container.start_encoding()  # connects (RTMP, SRT) and writes the header
        except BaseException:
            self._discard()
            raise
        self.origin: float | None = None
        self.last = -1
        self.last_key: float | None = None

    def send(self, image: np.ndarray, stamp: float) -> None:
        """One frame at its live-clock time; a keyframe every second of that clock, however few frames that is
        (a receiver joining late waits at most that long, even when depth runs at 3 fps)."""
        import av
        from av.video.frame import PictureType

        self.origin = stamp if self.origin is None else self.origin
        pts = max(self.last + 1, round((stamp - self.origin) / CLOCK))
        self.last = pts
        frame = av.VideoFrame.from_ndarray(bgr_to_yuv420(fit(image, self.stream.width, self.stream.height)), format="yuv420p")
        frame.pts, frame.time_base = pts, CLOCK
        if self.last_key is None or stamp - self.last_key >= KEYFRAME_SECONDS:
            frame.pict_type = PictureType.I
            self.last_key = stamp
        for packet in self.stream.encode(frame):
            self.container.mux(packet)

    def finish(self) -> None:
        for packet in self.stream.encode(None):
            self.container.mux(packet)

    def close(self) -> None:
        try:
            self.container.close()
        except SEND_ERRORS as exc:
            log.debug("closing the stream: %s", exc)

    def _discard(self) -> None:
        try:
            self.container.close()
        except Exception:  # noqa: BLE001 - the first error is the one to report
            pass
