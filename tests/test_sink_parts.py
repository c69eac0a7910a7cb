"""The video sink's pieces, each alone: timeline, encoder choice, muxer options, error lines, picture fitting."""

from __future__ import annotations

import errno
import os
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from stream.core.frames import Frame
from stream.sinks.colour import fit
from stream.sinks.crashsafe import keyframe_interval, muxer_options, write_error_message
from stream.sinks.encoder import (
    FALLBACK_CODEC,
    EncoderSettings,
    choose_encoder,
    encoder_options,
    stream_time_base,
)
from stream.sinks.timeline import Timeline

IMAGE = np.zeros((4, 4, 3), np.uint8)


def at(pts: int | None, time_base: Fraction | None = Fraction(1, 90000)) -> Frame:
    return Frame(IMAGE, 0, pts=pts, time_base=time_base if pts is not None else None)


# -- timeline ---------------------------------------------------------------------------


def test_timeline_starts_a_late_source_at_zero_and_remembers_where_it_was() -> None:
    timeline = Timeline(Fraction(1, 90000), Fraction(25))
    assert [timeline.place(at(126000 + 3600 * i)) for i in range(3)] == [0, 3600, 7200]
    assert timeline.origin == pytest.approx(1.4)
    assert timeline.end_seconds == pytest.approx(0.08 + 0.04)


def test_timeline_rescales_and_never_goes_back() -> None:
    timeline = Timeline(Fraction(1, 1000), Fraction(25))
    placed = [timeline.place(at(pts, Fraction(1, 90000))) for pts in (0, 3600, 3600, 1800, 10800)]
    assert placed == [0, 40, 41, 42, 120]


def test_timeline_places_frames_without_timestamps_by_count() -> None:
    timeline = Timeline(Fraction(1, 10), Fraction(10))
    assert [timeline.place(at(None)) for _ in range(4)] == [0, 1, 2, 3]
    assert timeline.origin == 0.0


# -- encoder ----------------------------------------------------------------------------


@pytest.fixture
def container(tmp_path: Path, request: pytest.FixtureRequest):
    with av.open(str(tmp_path / f"out{request.param}"), mode="w") as output:
        yield output


@pytest.mark.parametrize("container,requested,expected", [
    (".mp4", "libx264", "libx264"),
    (".mp4", "no-such-encoder", FALLBACK_CODEC),
    (".webm", "libx264", "vp9"),  # WebM cannot hold H.264: its own default
], indirect=["container"])
def test_encoder_choice(container, requested: str, expected: str) -> None:
    assert choose_encoder(requested, container) == expected


def test_encoder_options_follow_the_settings() -> None:
    settings = EncoderSettings("libx264", 20, "fast")
    assert encoder_options("libx264", settings) == {"crf": "20", "preset": "fast"}
    assert encoder_options("libvpx-vp9", settings)["crf"] == "30"
    assert encoder_options(FALLBACK_CODEC, settings) == {}


@pytest.mark.parametrize("container,codec,expected", [
    (".mkv", "libx264", Fraction(1, 90000)),  # the source's own
    (".avi", "libx264", Fraction(1, 25)),  # AVI counts frames
    (".mp4", FALLBACK_CODEC, Fraction(1, 25)),  # MPEG-4 part 2 caps the time base at 65535
], indirect=["container"])
def test_stream_time_base(container, codec: str, expected: Fraction) -> None:
    assert stream_time_base(container, codec, Fraction(1, 90000), Fraction(25)) == expected


# -- crash safety ------------------------------------------------------------------------


def test_muxer_options_make_every_container_crash_safe() -> None:
    for suffix in (".mp4", ".MOV"):
        options = muxer_options(Path(f"out{suffix}"))
        assert "frag_keyframe" in options["movflags"] and "empty_moov" in options["movflags"]
        assert options["frag_duration"] == "1000000" and options["flush_packets"] == "1"
    assert muxer_options(Path("out.mkv"))["cluster_time_limit"] == "1000"
    assert muxer_options(Path("out.webm"))["cluster_time_limit"] == "1000"
    assert muxer_options(Path("out.avi")) == {"flush_packets": "1"}
    assert [keyframe_interval(fps) for fps in (25.0, 29.97, 0.5)] == [25, 30, 1]


@pytest.mark.parametrize("code,needle", [
    (errno.ENOSPC, "disk full while writing out.mp4; free space or choose another --output"),
    (errno.EDQUOT, "disk full while writing out.mp4; free space or choose another --output"),
    (errno.EFBIG, "largest file"),
    (errno.EIO, "writing out.mp4 failed (Input/output error); choose another --output"),
])
def test_write_errors_are_one_line_naming_the_fix(code: int, needle: str) -> None:
    message = write_error_message(Path("out.mp4"), OSError(code, os.strerror(code)))
    assert needle in message and "\n" not in message and "--output" in message


# -- pictures ---------------------------------------------------------------------------


def test_fit_makes_grey_odd_pictures_even_bgr_of_the_stream_size() -> None:
    grey = np.arange(35, dtype=np.uint8).reshape(5, 7)
    padded = fit(grey)
    assert padded.shape == (6, 8, 3) and padded.flags.c_contiguous
    assert (padded[5, :7, 0] == grey[4]).all() and (padded[:5, 7, 0] == grey[:, 6]).all()
    assert fit(grey, 4, 2).shape == (2, 4, 3)
