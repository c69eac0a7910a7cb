"""Real-world footage defects, each on a generated file or a sender written here.

Rotated phone clips, HTTP files that are files (not streams), live servers that accept
but never deliver, a UDP sender that restarts, colour matrices and ranges, MKV/WebM
progress totals and image sequences. Each test failed on the single-module AVSource
this package replaced (see the commit messages) and passes now.
"""

from __future__ import annotations

import time
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from av.video.reformatter import ColorRange, Colorspace

from stream.core.errors import SourceError, SourceLostError
from stream.sources import SourceKind, SourceOptions, open_source
from stream.sources.colour import source_matrix, source_range
from stream.sources.orientation import Orientation
from tests.footage import (
    HDR_PATCHES,
    UdpSender,
    centres,
    colour_clip,
    ffmpeg_has_filters,
    ffmpeg_sdr,
    free_udp_port,
    hdr_clip,
    image_sequence,
    live_http,
    patch_centres,
    read_marker,
    rotated_clip,
    ts_without_video_frames,
    upright,
)
from tests.media import make_video, nearest_pattern, pattern_frame, run_bounded, serve_directory

LIMIT = 20.0


def drain(source) -> list:
    frames = []
    while (frame := source.read()) is not None:
        frames.append(frame)
    return frames


def read_all(spec: str, options: SourceOptions | None = None) -> tuple:
    def run() -> tuple:
        with open_source(spec, options) as source:
            return source.info, drain(source)

    return run_bounded(run, LIMIT)


def assert_one_line_naming(exc: BaseException, name: str) -> None:
    assert "\n" not in str(exc) and name in str(exc), str(exc)


# -- rotation -------------------------------------------------------------------------------


@pytest.mark.parametrize("degrees,hflip,vflip", [(90, False, False), (-90, False, False), (180, False, False),
                                                 (90, True, False), (0, True, False), (0, False, True)])
def test_rotated_clip_is_delivered_upright(tmp_path: Path, degrees: int, hflip: bool, vflip: bool) -> None:
    clip = rotated_clip(tmp_path / "phone.mp4", degrees, hflip, vflip, width=96, height=64)
    info, frames = read_all(str(clip))
    expected = [upright(pattern_frame(i, 96, 64), degrees, hflip, vflip) for i in range(3)]
    assert (info.width, info.height) == (expected[0].shape[1], expected[0].shape[0])
    assert len(frames) == 3
    for frame, want in zip(frames, expected):
        assert frame.image.shape == want.shape and frame.image.flags.c_contiguous
        error = np.abs(frame.image.astype(int) - want).mean()
        as_stored = pattern_frame(frame.index, 96, 64)
        assert error < 4, error
        if as_stored.shape == want.shape:  # not just the shape: the picture itself is turned
            assert np.abs(frame.image.astype(int) - as_stored).mean() > 20


def test_display_matrix_reading() -> None:
    unit = 1 << 16
    assert Orientation.from_matrix([0, -unit, 0, unit, 0, 0, 0, 0, 1 << 30]) == Orientation(True, True, False)
    assert Orientation.from_matrix([unit, 0, 0, 0, unit, 0, 0, 0, 1 << 30]) == Orientation()
    assert Orientation.from_matrix([46341, 46341, 0, -46341, 46341, 0, 0, 0, 1 << 30]) is None  # 45 degrees: left alone
    assert Orientation(True).upright_size(1920, 1080) == (1080, 1920)


# -- a finite file over HTTP is a file ------------------------------------------------------


@pytest.mark.parametrize("name", ["clip.mp4", "clip.mkv"])
def test_file_over_http_is_read_once_with_its_audio(tmp_path: Path, name: str) -> None:
    make_video(tmp_path / name, 96, 64, 20, fps=20, audio=True)
    with serve_directory(tmp_path) as base:
        url = f"{base}/{name}"
        with open_source(url, SourceOptions(reconnect_attempts=3, reconnect_backoff=0.01)) as source:
            frames = run_bounded(lambda: drain(source), LIMIT)
            assert source.read() is None  # the end stays the end: no reconnect replaying the file
            info = source.info
    assert info.kind is SourceKind.FILE and not info.is_live
    assert info.frame_count == 20 and info.audio_path == url
    assert [nearest_pattern(f.image, range(20)) for f in frames] == list(range(20))
    assert [f.index for f in frames] == list(range(20))


@pytest.mark.parametrize("case", ["404", "no video frames"])
def test_http_file_that_cannot_be_served_is_one_line_error_without_reconnecting(tmp_path: Path, case: str) -> None:
    ts_without_video_frames(tmp_path / "silent.ts")
    with serve_directory(tmp_path) as base:
        url = f"{base}/{'missing.mp4' if case == '404' else 'silent.ts'}"
        with pytest.raises(SourceError) as caught:
            read_all(url, SourceOptions(reconnect_attempts=3, reconnect_backoff=0.01))
    assert_one_line_naming(caught.value, url)


def test_live_server_that_accepts_but_never_delivers_runs_out_of_attempts(tmp_path: Path) -> None:
    payload = make_video(tmp_path / "live.ts", 96, 64, 30, fps=25).read_bytes()
    silent = ts_without_video_frames(tmp_path / "silent.ts").read_bytes()
    with live_http([payload, silent]) as (base, requests):  # every reconnect opens, then sends no picture
        url = f"{base}/live.ts"
        source = open_source(url, SourceOptions(reconnect_attempts=3, reconnect_backoff=0.01))
        delivered: list = []

        def read_until_lost() -> None:
            while (frame := source.read()) is not None:
                delivered.append(frame)

        with source, pytest.raises(SourceLostError) as caught:
            run_bounded(read_until_lost, LIMIT)
    assert_one_line_naming(caught.value, url)
    assert "3 reconnect attempt(s) failed" in str(caught.value) and len(requests) == 4
    assert len(delivered) == 30


# -- a live stream whose sender restarts ----------------------------------------------------


def test_udp_sender_restart_continues_the_timeline_in_real_time() -> None:
    pause = 0.5
    port = free_udp_port()
    first = UdpSender(port, sender=1, fps=25).start()
    second = UdpSender(port, sender=2, fps=25)
    options = SourceOptions(open_timeout=10, read_timeout=10, reconnect_attempts=0)
    source = None
    try:
        source = run_bounded(lambda: open_source(f"udp://127.0.0.1:{port}", options), LIMIT)
        frames = run_bounded(lambda: [source.read() for _ in range(5)], LIMIT)
        first.stop()

        def until(done) -> None:
            while not done():
                frames.append(source.read())

        # FFmpeg's parser holds the last frame back until more data comes: read up to the one before
        run_bounded(lambda: until(lambda: read_marker(frames[-1].image) == (1, first.sent - 2)), LIMIT)
        time.sleep(pause)
        second.start()
        run_bounded(lambda: until(lambda: sum(read_marker(f.image)[0] == 2 for f in frames) >= 10), LIMIT)
    finally:
        first.stop()
        if second._thread.is_alive():
            second.stop()
        if source is not None:
            source.close()
    assert source.info.kind is SourceKind.STREAM and source.info.is_live
    seconds = [f.seconds for f in frames]
    assert all(b > a for a, b in zip(seconds, seconds[1:])), seconds  # one increasing timeline
    restart = next(i for i, f in enumerate(frames) if read_marker(f.image)[0] == 2)
    assert read_marker(frames[restart].image) == (2, 0) and read_marker(frames[restart - 1].image)[0] == 1
    # after the restart frames are spaced by their own timestamps (1/25 s), not squeezed to a tick
    assert np.diff(seconds[restart:]) == pytest.approx([0.04] * (len(frames) - restart - 1), abs=1e-3)
    # and the outage shows: the restarted sender's first frame comes at least the pause later
    assert seconds[restart] - seconds[restart - 1] >= pause - 0.05  # minus the held-back frame's interval


# -- colour -------------------------------------------------------------------------------


@pytest.mark.parametrize("width,height,matrix,tagged,full_range,codec", [
    (1280, 720, "bt709", True, False, "libx264"),
    (1280, 720, "bt709", False, False, "libx264"),  # untagged HD: BT.709
    (640, 480, "bt601", False, False, "libx264"),  # untagged SD: BT.601
    (1280, 720, "bt601", True, False, "libx264"),  # a tag beats the size rule
    (1280, 720, "bt2020", True, False, "libx264"),
    (640, 480, "bt601", False, True, "mjpeg"),  # full range (yuvj420p)
    (1280, 720, "bt709", True, True, "libx264"),  # full range by tag (phones)
])
def test_colour_patches_decode_with_the_sources_matrix_and_range(tmp_path: Path, width: int, height: int,
                                                                 matrix: str, tagged: bool, full_range: bool,
                                                                 codec: str) -> None:
    clip = colour_clip(tmp_path / f"patches.{'avi' if codec == 'mjpeg' else 'mkv'}", width, height, matrix, tagged,
                       full_range, codec)
    _info, frames = read_all(str(clip))
    errors = [int(np.abs(np.array(want) - got).max()) for want, got in patch_centres(frames[0].image)]
    assert max(errors) <= 4, errors
    if not tagged and matrix == "bt709":  # the test can fail: PyAV's default (BT.601) is far off here
        with av.open(str(clip)) as container:
            default = next(container.decode(video=0)).to_ndarray(format="bgr24")
        assert max(int(np.abs(np.array(want) - got).max()) for want, got in patch_centres(default)) >= 10


needs_hdr_tools = pytest.mark.skipif(not ffmpeg_has_filters("zscale", "tonemap") or "libx265" not in av.codecs_available,
                                     reason="needs libx265 in PyAV and ffmpeg with zscale and tonemap")
NEUTRAL = [index for index, patch in enumerate(HDR_PATCHES) if len(set(patch)) == 1]


@needs_hdr_tools
@pytest.mark.parametrize("transfer,max_cll,mastering_peak,live", [
    ("hlg", None, None, False), ("pq", None, None, False), ("hlg", None, None, True),
    ("pq", 4000, None, False),  # HDR10 metadata: the curve's peak is MaxCLL
    ("pq", None, 2000, False),  # no MaxCLL: the mastering display's peak
])
def test_hdr_patches_are_tone_mapped_to_sdr_as_ffmpeg_does(tmp_path: Path, transfer: str, max_cll: int | None,
                                                           mastering_peak: int | None, live: bool) -> None:
    """Phone HDR (HEVC 10-bit BT.2020, HLG or PQ) against FFmpeg's zscale + tonemap=hable chain.

    Tolerances, per patch and channel, out of 255: PQ within 3 (the same maths; rounding).
    HLG: greys within 3; colours within 24 and 8 on average per channel, because this
    FFmpeg's zimg applies HLG's OOTF (gamma 1.2) to each of R, G and B, where BT.2100 (and
    newer zimg, and this app) apply it to the luminance: the same on greys, up to ~20 levels
    apart on saturated colours. Decoded as SDR (before) the red patch was 26 levels off, grey 21.
    """
    clip = hdr_clip(tmp_path / f"phone.{'ts' if live else 'mp4'}", transfer, max_cll=max_cll,
                    mastering_peak=mastering_peak, frames=3)
    if live:
        with live_http([clip.read_bytes()]) as (base, _requests):
            info, frames = read_all(f"{base}/live.ts", SourceOptions(reconnect_attempts=0))
        assert info.kind is SourceKind.STREAM
    else:
        info, frames = read_all(str(clip))
    ours, reference = centres(frames[0].image), centres(ffmpeg_sdr(clip, 192, 192))
    errors = np.abs(ours - reference)
    if transfer == "pq":
        assert errors.max() <= 3, (ours.tolist(), reference.tolist())
    else:
        assert errors[NEUTRAL].max() <= 3 and errors.max() <= 24, (ours.tolist(), reference.tolist())
        assert errors.mean(axis=0).max() <= 8, errors.mean(axis=0)
    assert all(np.array_equal(frame.image, frames[0].image) for frame in frames)
    peak = max_cll or mastering_peak or 1000
    assert info.conversion == (f"HDR ({transfer.upper()}, BT.2020, 10-bit) converted to SDR BT.709 "
                               f"(Hable tone map from {peak} nits)")


def test_colour_matrix_and_range_rules() -> None:
    assert source_matrix(2, 1280, 720) is Colorspace.ITU709 and source_matrix(2, 1920, 1080) is Colorspace.ITU709
    assert source_matrix(2, 1280, 536) is Colorspace.ITU709  # cinema-wide HD
    assert source_matrix(2, 720, 576) is Colorspace.ITU601 and source_matrix(5, 1920, 1080) is Colorspace.ITU601
    assert source_matrix(9, 640, 480) is Colorspace.BT2020 and source_matrix(1, 640, 480) is Colorspace.ITU709
    assert source_range(0, "yuvj420p") is ColorRange.JPEG and source_range(2, "yuv420p") is ColorRange.JPEG
    assert source_range(0, "yuv420p") is ColorRange.MPEG and source_range(1, "yuv420p10le") is ColorRange.MPEG


# -- progress totals --------------------------------------------------------------------------


@pytest.mark.parametrize("name,codec,count,fps", [("clip.mkv", "libx264", 30, 25), ("clip.webm", "libvpx", 12, 25),
                                                  ("long-audio.mkv", "libx264", 20, 20)])
def test_mkv_and_webm_get_a_frame_count_from_their_duration(tmp_path: Path, name: str, codec: str, count: int,
                                                            fps: int) -> None:
    clip = make_video(tmp_path / name, 96, 64, count, fps=fps, codec=codec, audio=name.startswith("long"))
    with av.open(str(clip)) as container:
        assert not container.streams.video[0].frames  # the header has no count: only a duration
    info, frames = read_all(str(clip))
    assert info.frame_count == len(frames) == count


# -- image sequences -------------------------------------------------------------------------


@pytest.mark.parametrize("name,fps,rate", [("frame_%04d.png", None, 25.0), ("f%d.jpg", 10.0, 10.0)])
def test_image_sequence_plays_as_a_video(tmp_path: Path, name: str, fps: float | None, rate: float) -> None:
    pattern = image_sequence(tmp_path / "frames", 12, name=name)
    (tmp_path / "frames" / "notes.txt").write_text("not a frame")
    info, frames = read_all(pattern, SourceOptions(fps=fps))
    assert info.kind is SourceKind.IMAGES and not info.is_live
    assert (info.width, info.height, info.fps, info.frame_count) == (96, 64, rate, 12)
    assert info.time_base == Fraction(1, int(rate)) and info.audio_path is None
    assert [f.pts for f in frames] == [f.index for f in frames] == list(range(12))
    assert all(f.time_base == info.time_base for f in frames)
    assert [nearest_pattern(f.image, range(12)) for f in frames] == list(range(12))


def test_image_sequence_in_numeric_order_past_the_padding(tmp_path: Path) -> None:
    folder = tmp_path / "frames"
    image_sequence(folder, 3, name="frame_%02d.png", start=98)  # 98, 99, 100
    _info, frames = read_all(str(folder / "frame_%02d.png"))
    assert [nearest_pattern(f.image, range(3)) for f in frames] == [0, 1, 2]


def test_image_pattern_matching_nothing_is_one_line_error(tmp_path: Path) -> None:
    image_sequence(tmp_path / "frames", 3, name="frame_%04d.png")
    pattern = str(tmp_path / "frames" / "img_%04d.png")
    with pytest.raises(SourceError, match="no file matches") as caught:
        open_source(pattern)
    assert_one_line_naming(caught.value, pattern)


def test_image_sequence_with_a_file_that_is_not_an_image(tmp_path: Path) -> None:
    pattern = image_sequence(tmp_path / "frames", 4, name="frame_%04d.png")
    bad = tmp_path / "frames" / "frame_0003.png"
    bad.write_bytes(b"this is not a png")
    with pytest.raises(SourceError, match="not an image") as caught:
        read_all(pattern)
    assert_one_line_naming(caught.value, str(bad))
    other = tmp_path / "frames" / "frame_0004.png"
    cv2.imwrite(str(other), pattern_frame(0, 48, 32))
    bad.unlink()
    with pytest.raises(SourceError, match="one size"):
        read_all(pattern)
