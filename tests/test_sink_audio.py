"""Audio in the output: transcoded when the container refuses the source's codec, and in sync
when the source's timeline does not start at 0 (MPEG-TS usually starts at 1.4 s)."""

from __future__ import annotations

import logging
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from stream.core.frames import Frame
from stream.sinks import VideoFileSink
from stream.sources import open_source
from tests.media import AUDIO_RATE, make_video, pattern_frame, read_video


def pattern(index: int, width: int = 64, height: int = 48, fps: int = 25) -> Frame:
    return Frame(pattern_frame(index, width, height), index, pts=index, time_base=Fraction(1, fps))


def audio_span(path: Path) -> tuple[str, float, float]:
    """(codec, first decoded sample in seconds, seconds of sound decoded) of the first audio stream."""
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        frames = list(container.decode(stream))
    start = float(frames[0].pts * frames[0].time_base)
    return stream.codec_context.name, start, sum(f.samples for f in frames) / frames[0].sample_rate


@pytest.mark.parametrize("source_name,audio_codec,output_name,expected_codec", [
    ("in.mp4", "aac", "out.webm", "opus"),  # WebM cannot hold AAC at all
    ("in.mkv", "flac", "out.mov", "aac"),  # FFmpeg lists FLAC as fine for .mov, then refuses the header
])
def test_audio_the_container_refuses_is_transcoded_to_its_default(tmp_path: Path, caplog: pytest.LogCaptureFixture,
                                                                  source_name: str, audio_codec: str, output_name: str,
                                                                  expected_codec: str) -> None:
    clip = make_video(tmp_path / source_name, 64, 48, 50, fps=25, audio=True, audio_codec=audio_codec)
    out = tmp_path / output_name
    with caplog.at_level(logging.INFO, logger="stream.sinks"), \
            VideoFileSink(out, 25.0, Fraction(1, 25), audio_from=str(clip)) as sink:
        for index in range(50):
            sink.write(pattern(index))
    frames, _, has_audio, codec = read_video(out)
    assert len(frames) == 50 and has_audio and codec == expected_codec
    _, start, seconds = audio_span(out)
    assert start == pytest.approx(0.0, abs=0.03) and seconds == pytest.approx(2.0, abs=0.05)
    assert f"{audio_codec} audio" in caplog.text and expected_codec in caplog.text
    assert "without sound" not in caplog.text


def late_start_ts(path: Path, frames: int, video_start: float, audio_start: float, fps: int = 25) -> Path:
    """An MPEG-TS whose clock starts late (as broadcast and most .ts files do), AAC audio beside H.264."""
    time_base = Fraction(1, 90000)
    with av.open(str(path), "w", options={"mpegts_copyts": "1"}) as container:
        video = container.add_stream("libx264", rate=fps, options={"preset": "ultrafast"})
        video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
        sound = container.add_stream("aac", rate=AUDIO_RATE, layout="mono")
        for index in range(frames):
            frame = av.VideoFrame.from_ndarray(pattern_frame(index, 64, 48), format="bgr24")
            frame.pts, frame.time_base = round((video_start + index / fps) / time_base), time_base
            for packet in video.encode(frame):
                container.mux(packet)
        for packet in video.encode(None):
            container.mux(packet)
        samples = int(AUDIO_RATE * frames / fps)
        tone = (0.2 * np.sin(2 * np.pi * 440 * np.arange(samples) / AUDIO_RATE)).astype(np.float32)
        for start in range(0, samples, 1024):
            chunk = av.AudioFrame.from_ndarray(tone[None, start:start + 1024], format="flt", layout="mono")
            chunk.sample_rate = AUDIO_RATE
            chunk.pts, chunk.time_base = round(audio_start * AUDIO_RATE) + start, Fraction(1, AUDIO_RATE)
            for packet in sound.encode(chunk):
                container.mux(packet)
        for packet in sound.encode(None):
            container.mux(packet)
    return path


def first_times(path: Path) -> tuple[float, float]:
    """When the first decoded picture and the first decoded sound start, in seconds."""
    with av.open(str(path)) as container:
        video = next(container.decode(video=0))
    with av.open(str(path)) as container:
        audio = next(container.decode(audio=0))
    return float(video.pts * video.time_base), float(audio.pts * audio.time_base)


@pytest.mark.parametrize("output_name", ["out.mp4", "out.mov", "out.mkv", "out.webm"])
def test_late_starting_source_starts_at_zero_with_audio_still_in_sync(tmp_path: Path, output_name: str) -> None:
    clip = late_start_ts(tmp_path / "late.ts", 50, video_start=1.4, audio_start=1.6)
    source_video, source_audio = first_times(clip)
    assert source_video == pytest.approx(1.4) and source_audio > source_video + 0.1
    out = tmp_path / output_name
    with open_source(str(clip)) as source, \
            VideoFileSink(out, source.info.fps, source.info.time_base, audio_from=source.info.audio_path) as sink:
        for frame in iter(source.read, None):
            sink.write(frame)
    with av.open(str(out)) as container:
        video = [float(f.pts * f.time_base) for f in container.decode(video=0)]
    assert len(video) == 50 and video[0] == 0.0 and video[-1] == pytest.approx(49 / 25)
    _, audio_start, seconds = audio_span(out)
    assert audio_start == pytest.approx(source_audio - source_video, abs=0.005)  # the A/V offset is kept
    assert seconds == pytest.approx(2.0 - audio_start, abs=0.07)  # and the sound stops with the video


def test_sound_from_before_the_first_picture_is_dropped(tmp_path: Path) -> None:
    clip = late_start_ts(tmp_path / "late.ts", 50, video_start=1.6, audio_start=1.4)
    out = tmp_path / "out.mp4"
    with open_source(str(clip)) as source, \
            VideoFileSink(out, source.info.fps, source.info.time_base, audio_from=source.info.audio_path) as sink:
        for frame in iter(source.read, None):
            sink.write(frame)
    with av.open(str(out)) as container:
        assert next(container.decode(video=0)).pts == 0
        packets = [p for p in container.demux(audio=0) if p.size]
    first = float(packets[0].pts * packets[0].time_base)
    assert -0.03 < first <= 0.0  # only the packet already playing when the picture starts


def test_audio_is_dropped_with_one_warning_when_it_cannot_be_re_encoded(tmp_path: Path, caplog: pytest.LogCaptureFixture,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("stream.sinks.audio.default_encoder", lambda container: "no-such-encoder")
    clip = make_video(tmp_path / "in.mp4", 64, 48, 5, fps=25, audio=True)
    out = tmp_path / "out.webm"
    with caplog.at_level(logging.INFO, logger="stream.sinks"), \
            VideoFileSink(out, 25.0, Fraction(1, 25), audio_from=str(clip)) as sink:
        for index in range(5):
            sink.write(pattern(index))
    frames, _, has_audio, _ = read_video(out)
    assert len(frames) == 5 and not has_audio
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING and "audio" in r.getMessage()]
    assert len(warnings) == 1 and "without sound" in warnings[0]


def test_adts_header_gives_the_aac_decoder_configuration() -> None:
    from stream.sinks.audio import adts_config

    # AAC LC, 44.1 kHz (index 4), mono: the bytes an MPEG-TS carries before each frame
    header = bytes([0xFF, 0xF1, 0x50, 0x40, 0x1C, 0xFF, 0xFC])
    assert adts_config(header) == bytes([0x12, 0x08])
    assert adts_config(b"\x12\x08raw aac") is None


def test_audio_comes_from_an_http_url_too(tmp_path: Path) -> None:
    from tests.media import serve_directory

    clip = make_video(tmp_path / "in.mp4", 64, 48, 25, fps=25, audio=True)
    out = tmp_path / "out.mkv"
    with serve_directory(tmp_path) as base, \
            VideoFileSink(out, 25.0, Fraction(1, 25), audio_from=f"{base}/{clip.name}") as sink:
        for index in range(25):
            sink.write(pattern(index))
    assert sink.audio_packets_written > 0
    codec, start, seconds = audio_span(out)
    assert codec == "aac" and start == pytest.approx(0.0, abs=0.03) and seconds == pytest.approx(1.0, abs=0.05)
