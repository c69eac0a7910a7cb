"""The video file sink: composed frames -> an encoded file, with the source's timing and sound.

It wires the pieces of this package together: the encoder choice (``encoder``), the
picture conversion (``colour``), the timestamps (``timeline``) and the audio (``audio``).
"""

from __future__ import annotations

import logging
from fractions import Fraction
from pathlib import Path
from typing import Any

from stream.core.errors import OutputError
from stream.core.frames import Closing, Frame
from stream.core.protocols import AudioFeed
from stream.sinks.audio import COPY, TRANSCODE, AudioCopy, AudioTrack, attach_audio
from stream.sinks.colour import bgr_to_yuv420, fit, tag_bt709
from stream.sinks.crashsafe import SafeContainer, keyframe_interval
from stream.sinks.encoder import EncoderSettings, add_video_stream
from stream.sinks.timeline import Timeline

log = logging.getLogger(__name__)


class VideoFileSink(Closing):
    """H.264 (yuv420p, BT.709) through PyAV, timestamps from the source, its audio alongside.

    The container opens on the first frame (its size fixes the stream's). Frame timestamps
    become output timestamps in ``timeline`` (first frame at 0, strictly increasing, placed
    by count at ``fps`` when missing); the source's audio (``audio``) is copied, or
    re-encoded where the container refuses it, shifted with the video so it stays in sync.
    The file is written crash-safe (``crashsafe``): it plays even if the process is killed.
    """

    def __init__(self, path: Path, fps: float, time_base: Fraction | None = None, audio_from: str | AudioFeed | None = None,
                 codec: str = "libx264", crf: int = 23, preset: str = "superfast", live: bool = False) -> None:
        self.path = Path(path)
        self.fps = float(fps) if fps and fps > 0 else 30.0
        self.rate = Fraction(self.fps).limit_denominator(1001)
        self.source_time_base = time_base
        self.audio_from = audio_from
        self.encoder = EncoderSettings(codec, crf, preset, live=live)
        self.frames_written = 0
        self.output: SafeContainer | None = None
        self.stream: Any = None
        self.audio: AudioTrack | None = None
        self.timeline: Timeline | None = None
        self._closed = False

    @property
    def audio_packets_written(self) -> int:
        return self.audio.packets_written if self.audio is not None else 0

    # -- opening ---------------------------------------------------------------------
    def _open(self, width: int, height: int) -> None:
        """Create the file with its streams; if the header refuses the copied audio, re-encode it, then drop it."""
        import av

        mode: str | None = COPY if self.audio_from else None
        while True:
            output = SafeContainer(self.path)
            try:
                self.stream = add_video_stream(output.container, self.encoder, self.rate, width, height,
                                               self.source_time_base, keyframe_interval(self.fps))
                tag_bt709(self.stream.codec_context)
                if mode is not None and self.audio_from is not None:
                    self.audio = attach_audio(output.container, self.audio_from, mode)
                output.start()
                break
            except BaseException as exc:
                refused = self.audio is not None and isinstance(exc, (av.error.FFmpegError, ValueError))
                mode = TRANSCODE if mode == COPY and isinstance(self.audio, AudioCopy) else None
                self._discard(output)
                if not refused:
                    if isinstance(exc, (av.error.FFmpegError, ValueError)):
                        raise OutputError(f"cannot write video to {self.path} ({exc}); choose another --output") from None
                    raise
                if mode is None:
                    log.warning("%s files refused the source's audio (%s); writing the video without sound", self.path.suffix, exc)
                else:
                    log.debug("%s files refused the source's audio as it is (%s); re-encoding it", self.path.suffix, exc)
        self.output = output
        self.timeline = Timeline(self.stream.codec_context.time_base, self.rate)

    def _discard(self, output: SafeContainer) -> None:
        """Undo a half-made container (its file is rewritten by the next attempt)."""
        self.stream = None
        if self.audio is not None:
            self.audio.close()
            self.audio = None
        output.discard()

    # -- writing ---------------------------------------------------------------------
    def write(self, frame: Frame) -> None:
        import av

        if self._closed:
            raise OutputError(f"{self.path} is already closed")
        if self.output is None:
            image = fit(frame.image)
            self._open(image.shape[1], image.shape[0])
        assert self.stream is not None and self.timeline is not None
        image = fit(frame.image, self.stream.width, self.stream.height)
        video_frame = av.VideoFrame.from_ndarray(bgr_to_yuv420(image), format="yuv420p")
        video_frame.pts = self.timeline.place(frame)
        video_frame.time_base = self.timeline.time_base
        for packet in self.stream.encode(video_frame):
            self._mux(packet)
        self.frames_written += 1
        self._pump_audio()

    def _mux(self, packet: Any) -> None:
        assert self.output is not None
        self.output.mux(packet)

    def _pump_audio(self) -> None:
        if self.audio is not None and self.timeline is not None:
            self.audio.pump(self.timeline.end_seconds, self.timeline.origin, self._mux)

    def close(self) -> None:
        """Flush the encoder and close the container: the file is playable afterwards.

        A write error raises once, from ``write`` or here; after it the file is cut back
        to its last whole fragment and closed quietly.
        """
        if self._closed:
            return
        self._closed = True
        try:
            if self.output is not None and self.stream is not None and self.output.failed is None:
                for packet in self.stream.encode(None):
                    self._mux(packet)
                self._pump_audio()
                if self.audio is not None:
                    self.audio.finish(self._mux)
        finally:
            try:
                if self.output is not None:
                    self.output.close()
            finally:
                if self.audio is not None:
                    self.audio.close()
