"""Which video encoder writes the output, with which options, in which time base.

The requested encoder (``libx264`` by default) is used when this FFmpeg has it and the
container can hold what it makes; otherwise ``mpeg4`` (built into every FFmpeg), or the
container's own default (VP9 for WebM). Each fallback is logged once, as a warning.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from stream.sinks.paths import suffix_of

log = logging.getLogger(__name__)

FALLBACK_CODEC = "mpeg4"
# muxers FFmpeg cannot be asked about (they list no codecs) that carry H.264: MPEG-TS, for streams
UNLISTED_H264 = frozenset({"mpegts"})
DEFAULT_CODEC = "libx264"
VPX_ENCODERS = ("libvpx-vp9", "libvpx", "vp9", "vp8")
X264_PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow", "placebo")
PRESET_ENCODERS = ("libx264", "libx265")  # x265 takes x264's preset names
SUGGESTED = ("libx264", "libx265", "libvpx-vp9", "libsvtav1", "mpeg4", "mjpeg", "ffv1")  # named when a codec is refused
PIX_FMT = "yuv420p"  # what every output is written in


@dataclass(frozen=True)
class EncoderSettings:
    """What the user asked for: encoder name, quality (x264 CRF scale) and speed preset; and what the run needs.

    ``live``: frames come on the live clock, at irregular times, so no B-frames (their
    reordering delay, with uneven timestamps, made the container claim seconds more than
    its last frame). ``zerolatency``: a stream sent on as it is made (x264's ``zerolatency``
    tune: no look-ahead, each frame out as soon as it is in).
    """

    codec: str = DEFAULT_CODEC
    crf: int = 23
    preset: str = "superfast"
    live: bool = False
    zerolatency: bool = False


def encoder_available(name: str) -> bool:
    """Whether this FFmpeg build has an encoder called ``name``."""
    import av

    try:
        av.Codec(name, "w")
    except (av.error.FFmpegError, ValueError):
        return False
    return True


def encoder_problem(name: str) -> str | None:
    """Why ``name`` cannot write the output video (None: it can), checked with the settings, before any work.

    It must be a video encoder of this FFmpeg that takes yuv420p frames; a hardware encoder
    is opened once, since its device may be missing. Only the default, when missing, may
    fall back to ``mpeg4`` (``choose_encoder``): a codec the user names is never swapped unseen.
    """
    import av

    if name == DEFAULT_CODEC and not encoder_available(name):
        return None
    try:
        codec = av.Codec(name, "w")
    except (av.error.FFmpegError, ValueError):
        return f"this FFmpeg has no encoder {name!r}; choose a video encoder: {', '.join(video_encoders())}"
    if codec.type != "video":
        return f"{name} encodes {codec.type}, not video; choose a video encoder: {', '.join(video_encoders())}"
    if PIX_FMT not in [f.name for f in codec.video_formats or ()]:
        return f"{name} cannot write {PIX_FMT} video, which the output is; choose one of {', '.join(video_encoders())}"
    if codec.capabilities & av.codec.codec.Capabilities.hardware:
        return hardware_problem(name)
    return None


def hardware_problem(name: str) -> str | None:
    """Open a hardware encoder on a tiny frame size: its device (GPU, driver) may be absent here."""
    import av

    context: Any = av.CodecContext.create(name, "w")  # a video context: PyAV's stubs type the base class
    context.width, context.height, context.pix_fmt = 256, 256, PIX_FMT
    context.time_base, context.framerate = Fraction(1, 25), Fraction(25)
    try:
        context.open()
    except (av.error.FFmpegError, ValueError) as exc:
        return f"the hardware encoder {name} does not open here ({getattr(exc, 'strerror', None) or 'no device'}); choose a software one: " \
               f"{', '.join(video_encoders())}"
    return None


def video_encoders() -> list[str]:
    """The suggested encoders this FFmpeg has (what a refusal lists)."""
    return [name for name in SUGGESTED if encoder_available(name)]


def preset_problem(codec: str, preset: str) -> str | None:
    """Why ``preset`` is no preset of ``codec`` (None: it is, or the codec takes none)."""
    if codec in PRESET_ENCODERS and preset not in X264_PRESETS:
        return f"{codec} has no preset {preset!r}; choose one of {', '.join(X264_PRESETS)}"
    return None


def av_codec_name(encoder: str) -> str:
    """The codec an encoder writes (``libx264`` -> ``h264``), for container checks."""
    import av

    try:
        return av.Codec(encoder, "w").canonical_name
    except (av.error.FFmpegError, ValueError):
        return encoder


def choose_encoder(requested: str, container: Any) -> str:
    """The requested encoder if it exists and the container takes its codec, else a fallback."""
    codec = requested
    if not encoder_available(codec):
        log.warning("video codec %s is not available in this FFmpeg; writing %s instead", codec, FALLBACK_CODEC)
        codec = FALLBACK_CODEC
    supported = container.supported_codecs
    unlisted = container.format.name in UNLISTED_H264 and av_codec_name(codec) == "h264"
    if not unlisted and codec not in supported and av_codec_name(codec) not in supported:
        fallback = container.default_video_codec
        log.warning("%s files cannot hold %s video; writing %s instead", suffix_of(container), codec, fallback)
        codec = fallback
    return codec


def encoder_options(codec: str, settings: EncoderSettings) -> dict[str, str]:
    """Private options for the encoder: CRF and preset for x264, constant quality for VP8/9."""
    if codec == "libx264":
        options = {"crf": str(settings.crf), "preset": settings.preset}
        return options | {"tune": "zerolatency"} if settings.zerolatency else options
    if codec in VPX_ENCODERS:
        return {"crf": str(max(4, min(63, settings.crf + 10))), "b": "0", "deadline": "realtime", "cpu-used": "8"}
    return {}


def stream_time_base(container: Any, codec: str, source_time_base: Fraction | None, rate: Fraction) -> Fraction:
    """The source's time base where the container and codec allow it, else one tick per frame."""
    time_base = source_time_base or 1 / rate
    if container.format.name == "avi" or (codec == FALLBACK_CODEC and time_base.denominator > 65535):
        time_base = 1 / rate  # AVI counts frames; MPEG-4 part 2 caps the time base
    return time_base


def add_video_stream(container: Any, settings: EncoderSettings, rate: Fraction, width: int, height: int,
                     source_time_base: Fraction | None, keyframe_interval: int) -> Any:
    """Add the yuv420p video stream, sized and timed, to a container opened for writing.

    ``keyframe_interval`` caps the frames between keyframes (where a killed file can be cut).
    AVI stores no presentation times, so there the encoder makes no B-frames (whose times
    a reader would have to guess, off by one after a seek); nor does a live run (see
    ``EncoderSettings``).
    """
    codec = choose_encoder(settings.codec, container)
    stream = container.add_stream(codec, rate=rate, options=encoder_options(codec, settings))
    stream.width, stream.height = width, height
    stream.pix_fmt = "yuv420p"
    stream.codec_context.gop_size = keyframe_interval
    if container.format.name == "avi" or settings.live or settings.zerolatency:
        stream.codec_context.max_b_frames = 0
    if codec == FALLBACK_CODEC:
        stream.bit_rate = int(min(20e6, max(1e6, width * height * float(rate) * 0.2)))
    time_base = stream_time_base(container, codec, source_time_base, rate)
    stream.codec_context.time_base = time_base
    stream.time_base = time_base
    return stream
