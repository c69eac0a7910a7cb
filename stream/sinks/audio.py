"""The source's sound in the output: copied packet for packet, or re-encoded when it must be.

The first audio stream of the source (a local path or an http(s) URL, opened a second
time; a live stream's packets as they arrive, an ``AudioFeed``) goes into the output in step
with the video: ``pump(until, origin)`` writes the
sound that starts before the video's current end, shifted by ``origin`` (the source time
of the first video frame, which the output shows at 0) so picture and sound stay in sync.
Sound from before the first picture is dropped.

Copying keeps the sound bit-exact and costs nothing. A container that refuses the
source's codec (AAC into WebM, FLAC into MOV) gets it re-encoded to the container's default
audio codec (Opus for WebM, AAC for MP4/MOV, MP3 for AVI); only if that fails too is the
video written without sound, with one warning.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from fractions import Fraction
from typing import Any

from stream.core.media import ffmpeg_name
from stream.core.protocols import AudioFeed, AudioPackets
from stream.sinks.paths import suffix_of

log = logging.getLogger(__name__)

Mux = Callable[[Any], None]
COPY, TRANSCODE = "copy", "transcode"


class AudioInput:
    """The first audio stream of a file or URL, read packet by packet."""

    def __init__(self, container: Any, url: str) -> None:
        self.container = container
        self.url = url
        self.stream = container.streams.audio[0]
        self._packets: Iterator[Any] | None = container.demux(self.stream)

    @classmethod
    def open(cls, url: str) -> AudioInput | None:
        """None (with a warning if it cannot be read) when there is no sound to take."""
        import av

        try:
            container = av.open(ffmpeg_name(url), mode="r")
        except (av.error.FFmpegError, OSError, ValueError) as exc:
            log.warning("not copying audio from %s: %s", url, exc)
            return None
        if not container.streams.audio:
            container.close()
            return None
        return cls(container, url)

    @property
    def codec_name(self) -> str:
        return codec_name(self.stream)

    def next_packet(self) -> Any:
        """The next packet with data, or None at the end (or after a read error, logged)."""
        import av

        while self._packets is not None:
            try:
                packet = next(self._packets, None)
            except (av.error.FFmpegError, OSError, ValueError) as exc:
                log.warning("stopped copying audio from %s: %s", self.url, exc)
                packet = None
            if packet is None:
                self._packets = None
            elif packet.dts is not None and packet.size > 0:
                return packet
        return None

    def close(self) -> None:
        self._packets = None
        self.container.close()


def codec_name(stream: Any) -> str:
    """The audio stream's codec as FFmpeg's muxers know it (``aac``, ``opus``...)."""
    codec = stream.codec_context.codec
    return getattr(codec, "canonical_name", None) or codec.name


class AudioTrack:
    """One output audio stream fed from ``AudioPackets`` (a file's, or a live stream's); subclasses copy or re-encode."""

    def __init__(self, source: AudioPackets) -> None:
        self.source = source
        self.output: Any = None
        self.packets_written = 0
        self._pending: Any = None

    def add_to(self, container: Any) -> None:
        raise NotImplementedError

    def pump(self, until: float, origin: float, mux: Mux) -> None:
        """Write the source's sound that starts before ``until`` seconds of output time."""
        while True:
            packet = self._pending if self._pending is not None else self.source.next_packet()
            if packet is None:
                return
            start = packet.pts if packet.pts is not None else packet.dts
            if float(start * packet.time_base) - origin >= until:
                self._pending = packet
                return
            self._pending = None
            self._write(packet, origin, mux)

    def _write(self, packet: Any, origin: float, mux: Mux) -> None:
        raise NotImplementedError

    def finish(self, mux: Mux) -> None:
        """Flush whatever the track still holds (the encoder's last packets)."""

    def _mux(self, packet: Any, mux: Mux) -> None:
        packet.stream = self.output
        mux(packet)
        self.packets_written += 1

    def close(self) -> None:
        self.source.close()


class AudioCopy(AudioTrack):
    """Packets copied untouched but for their timestamps (shifted by ``origin``).

    AAC from an MPEG-TS (or any ADTS stream) goes into MP4/MOV as raw AAC: FFmpeg's
    automatic ``aac_adtstoasc`` does not run for fragmented MP4, so we run it ourselves and
    give the stream the decoder configuration from the first ADTS header.
    """

    def __init__(self, source: AudioPackets) -> None:
        super().__init__(source)
        self._adts_filter: Any = None

    def add_to(self, container: Any) -> None:
        import av

        self.output = container.add_stream_from_template(self.source.stream)
        if codec_name(self.source.stream) == "aac" and container.format.name in ("mp4", "mov") \
                and not self.source.stream.codec_context.extradata:
            self._pending = self.source.next_packet()
            config = adts_config(bytes(self._pending)) if self._pending is not None else None
            if config is not None:
                self.output.codec_context.extradata = config
                self._adts_filter = av.BitStreamFilterContext("aac_adtstoasc", in_stream=self.source.stream)

    def _write(self, packet: Any, origin: float, mux: Mux) -> None:
        shift = round(origin / packet.time_base)
        start = packet.pts if packet.pts is not None else packet.dts
        if start + (packet.duration or 0) < shift:
            return  # sound from before the first picture
        if shift:
            packet.dts -= shift
            if packet.pts is not None:
                packet.pts -= shift
        for raw in self._adts_filter.filter(packet) if self._adts_filter is not None else [packet]:
            self._mux(raw, mux)


def adts_config(header: bytes) -> bytes | None:
    """The 2-byte AAC AudioSpecificConfig an ADTS frame header describes (None if not ADTS)."""
    if len(header) < 7 or header[0] != 0xFF or header[1] & 0xF0 != 0xF0:
        return None
    object_type = (header[2] >> 6) + 1
    frequency = (header[2] >> 2) & 0x0F
    channels = ((header[2] & 0x01) << 2) | (header[3] >> 6)
    return ((object_type << 11) | (frequency << 7) | (channels << 3)).to_bytes(2, "big")


class AudioTranscode(AudioTrack):
    """Packets decoded and re-encoded to ``codec`` (PyAV resamples to what it takes)."""

    def __init__(self, source: AudioPackets, codec: str) -> None:
        super().__init__(source)
        self.codec = codec
        self._next_sample: int | None = None

    def add_to(self, container: Any) -> None:
        import av

        rates = av.Codec(self.codec, "w").audio_rates
        rate = self.source.stream.codec_context.sample_rate
        if rates and rate not in rates:
            rate = 48000 if 48000 in rates else max(rates)
        layout = self.source.stream.codec_context.layout.name
        if self.source.stream.codec_context.channels > 2:
            layout = "stereo"
        self.output = container.add_stream(self.codec, rate=rate, layout=layout)

    def _write(self, packet: Any, origin: float, mux: Mux) -> None:
        for frame in packet.decode():
            start = float(frame.pts * frame.time_base) - origin if frame.pts is not None else 0.0
            if start + frame.samples / frame.sample_rate <= 0:
                continue  # sound from before the first picture
            if self._next_sample is None:
                self._next_sample = round(start * frame.sample_rate)
            frame.pts, frame.time_base = self._next_sample, Fraction(1, frame.sample_rate)
            self._next_sample += frame.samples
            for encoded in self.output.encode(frame):
                self._mux(encoded, mux)

    def finish(self, mux: Mux) -> None:
        for encoded in self.output.encode(None):
            self._mux(encoded, mux)


def default_encoder(container: Any) -> str | None:
    """The container's default audio encoder, if this FFmpeg has a non-experimental one."""
    import av

    name = container.default_audio_codec
    try:
        codec = av.Codec(name, "w")
    except (av.error.FFmpegError, ValueError):
        return None
    return None if codec.experimental else codec.name


def attach_audio(container: Any, audio_from: str | AudioFeed, mode: str) -> AudioTrack | None:
    """Add the sound of ``audio_from`` (a file or URL, or a live feed) to ``container`` (copied, or re-encoded where it must be)."""
    import av

    source = AudioInput.open(audio_from) if isinstance(audio_from, str) else audio_from.open()
    if source is None:
        return None
    suffix, name = suffix_of(container), codec_name(source.stream)
    if mode == COPY and name not in container.supported_codecs:
        mode = TRANSCODE
    encoder = default_encoder(container) if mode == TRANSCODE else None
    if mode == TRANSCODE and encoder is None:
        log.warning("%s files cannot hold %s audio and this FFmpeg has no encoder for their default; "
                    "writing the video without sound", suffix, name)
        source.close()
        return None
    track = AudioCopy(source) if encoder is None else AudioTranscode(source, encoder)
    try:
        track.add_to(container)
    except (av.error.FFmpegError, ValueError) as exc:
        log.warning("cannot write %s audio into %s files (%s); writing the video without sound", name, suffix, exc)
        source.close()
        return None
    if encoder is not None:
        log.info("%s files cannot hold %s audio as it is; re-encoding it to %s", suffix, name, track.output.codec_context.name)
    return track
