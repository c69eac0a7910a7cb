"""The video file sink: composed frames -> an encoded file, with the source's timing and sound.

It wires the pieces of this package together: the encoder choice (``encoder``), the
picture conversion (``colour``), the timestamps (``timeline``) and the audio (``audio``).
"""

from __future__ import annotations

import logging
from fractions import Fraction
from pathlib import Path
from typing import Any

from stream.errors import OutputError
from stream.frames import Closing, Frame
from stream.sinks.audio import AudioCopy
from stream.sinks.colour import bgr_to_yuv420, fit, tag_bt709
from stream.sinks.crashsafe import SafeContainer, keyframe_interval
from stream.sinks.encoder import EncoderSettings, add_video_stream
from stream.sinks.timeline import Timeline

log = logging.getLogger(__name__)


class VideoFileSink(Closing):
    """H.264 (yuv420p, BT.709) through PyAV, timestamps from the source, audio copied untouched.

    The container opens on the first frame (its size fixes the stream's). A frame's
    ``pts``/``time_base`` are rescaled to the output stream and kept strictly increasing;
    frames without a timestamp are placed by count at ``fps``. Without audio the first frame
    is moved to time 0; with audio the source timeline is kept so sound stays in sync.
    The file is written crash-safe (``crashsafe``): it plays even if the process is killed.
    """

    def __init__(self, path: Path, fps: float, time_base: Fraction | None = None, audio_from: str | None = None,
                 codec: str = "libx264", crf: int = 23, preset: str = "veryfast") -> None:
        self.path = Path(path)
        self.fps = float(fps) if fps and fps > 0 else 30.0
        self.rate = Fraction(self.fps).limit_denominator(1001)
        self.source_time_base = time_base
        self.audio_from = audio_from
        self.encoder = EncoderSettings(codec, crf, preset)
        self.frames_written = 0
        self.output: SafeContainer | None = None
        self.stream: Any = None
        self.audio: AudioCopy | None = None
        self.timeline: Timeline | None = None
        self._closed = False

    @property
    def audio_packets_written(self) -> int:
        return self.audio.packets_written if self.audio is not None else 0

    # -- opening ---------------------------------------------------------------------
    def _open(self, width: int, height: int) -> None:
        import av

        with_audio = bool(self.audio_from)
        while True:
            output = SafeContainer(self.path)
            try:
                self.stream = add_video_stream(output.container, self.encoder, self.rate, width, height,
                                               self.source_time_base, keyframe_interval(self.fps))
                tag_bt709(self.stream.codec_context)
                if with_audio:
                    self._add_audio(output.container)
                output.start()
                break
            except BaseException as exc:
                audio_refused = self.audio is not None and isinstance(exc, (av.error.FFmpegError, ValueError))
                self._discard(output)
                if not audio_refused:
                    if isinstance(exc, (av.error.FFmpegError, ValueError)):
                        raise OutputError(f"cannot write video to {self.path} ({exc}); choose another --output") from None
                    raise
                log.warning("%s files refused the source's audio (%s); writing the video without sound", self.path.suffix, exc)
                with_audio = False
        self.output = output
        self.timeline = Timeline(self.stream.codec_context.time_base, self.rate, zero_start=self.audio is None)

    def _add_audio(self, container: Any) -> None:
        import av

        audio = AudioCopy.open(str(self.audio_from))
        if audio is None:
            return
        name = audio.codec_name
        if name not in container.supported_codecs:
            log.warning("%s files cannot hold %s audio; writing the video without sound", self.path.suffix, name)
            audio.close()
            return
        try:
            audio.add_to(container)
        except (av.error.FFmpegError, ValueError) as exc:
            log.warning("not copying %s audio from %s: %s", name, self.audio_from, exc)
            audio.close()
            return
        self.audio = audio

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
            self.audio.pump(self.timeline.end_seconds, self._mux)

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
        finally:
            try:
                if self.output is not None:
                    self.output.close()
            finally:
                if self.audio is not None:
                    self.audio.close()
