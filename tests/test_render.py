"""Composition and overlay: 4K sources scaled to video.max_width, overlay that fits any picture."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from stream.core.frames import DepthFrame, Frame
from stream.pipeline.stages import Pipeline
from stream.pipeline.stats import PipelineOptions
from stream.view.render import compose_view, draw_overlay, half_size

LINES = ["capture  30.0 fps  depth  24.1 fps", "dropped 12  latency   41 ms"]


def text_rows(before: np.ndarray, after: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    changed = np.nonzero((before != after).any(axis=2))
    return changed[0], changed[1]


def test_4k_side_by_side_is_scaled_to_max_width_keeping_the_aspect() -> None:
    frame = np.zeros((2160, 3840, 3), np.uint8)
    frame[:, 1920:] = 200  # right half of the picture bright
    depth = np.tile(np.linspace(0, 1, 3840, dtype=np.float32), (2160, 1))
    view, _ = compose_view(frame, depth, "inferno", max_width=3840)
    assert view.shape == (1080, 3840, 3)
    assert view[:, :960].max() == 0 and view[:, 1000:1920].min() == 200  # the picture, scaled, not cropped
    depth_half = view[:, 1920:].astype(int)
    assert depth_half[540, 1900].sum() > depth_half[540, 20].sum()  # depth gradient kept across the half


@pytest.mark.parametrize("size,limit,expected", [((640, 480), 3840, (640, 480)), ((3840, 2160), 3840, (1920, 1080)),
                                                 ((4096, 2160), 3840, (1920, 1012)), ((1921, 1081), 3840, (1920, 1080))])
def test_half_size(size, limit, expected) -> None:
    assert half_size(*size, limit) == expected


@pytest.mark.parametrize("height", [480, 1080, 2160])
def test_overlay_scales_with_the_picture_and_stays_in_the_picture_half(height) -> None:
    width = height * 4 // 3
    view = np.full((height, 2 * width, 3), 128, np.uint8)
    before = view.copy()
    draw_overlay(view, LINES, width=width)
    rows, cols = text_rows(before, view)
    assert cols.max() < width  # the depth half is untouched
    assert 0.06 < (rows.max() + 1) / height < 0.2  # the same share of the picture at every size: readable at 2160p


def test_overlay_never_covers_a_tiny_picture() -> None:
    view = np.full((24, 64, 3), 128, np.uint8)
    before = view.copy()
    draw_overlay(view, LINES, width=32)
    assert np.array_equal(view, before)


def test_a_single_picture_shows_no_zero_fps() -> None:
    pipeline = Pipeline(source=None, estimator=None, sinks=[], options=PipelineOptions(live=False))  # type: ignore[arg-type]
    frame = Frame(np.zeros((240, 320, 3), np.uint8), 0, pts=0, time_base=Fraction(1, 25))
    pipeline.stats.capture_rate.tick()
    lines = pipeline.overlay_lines(DepthFrame(frame, np.zeros((240, 320), np.float32)))
    assert not any("fps" in line for line in lines)
    assert lines == ["frame 1"]


def test_first_frames_of_a_file_show_no_rate_from_their_burst() -> None:
    """The queue fills at decode speed (5 frames in 12 ms): "capture 401.0 fps" is not a rate; 10 fps for 4 s is."""
    pipeline = Pipeline(source=None, estimator=None, sinks=[], options=PipelineOptions(live=False))  # type: ignore[arg-type]
    frame = Frame(np.zeros((240, 320, 3), np.uint8), 0, pts=0, time_base=Fraction(1, 25))
    for i in range(5):
        pipeline.stats.capture_rate.tick(100.0 + i * 0.003)
    pipeline.stats.depth_rate.tick(100.02)
    assert pipeline.overlay_lines(DepthFrame(frame, np.zeros((240, 320), np.float32))) == ["frame 1"]
    for i in range(1, 41):  # 4 s: the window (30 events) has left the burst behind
        pipeline.stats.capture_rate.tick(100.012 + i * 0.1)
        pipeline.stats.depth_rate.tick(100.02 + i * 0.1)
    rates = pipeline.overlay_lines(DepthFrame(frame, np.zeros((240, 320), np.float32)))[0]
    assert rates == "capture  10.0 fps  depth  10.0 fps"
