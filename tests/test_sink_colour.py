"""Colour: the output is BT.709 limited range and says so, so players show the colours we wrote.

Players assume BT.709 for HD video; a BT.601 conversion without tags shifts every colour.
The FFmpeg CLI decodes to RGB honouring the stream's tags, as players do.
"""

from __future__ import annotations

import json
import subprocess
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from stream.core.frames import Frame
from stream.sinks import VideoFileSink

PATCH = 32
COLOURS_BGR = [  # saturated primaries and secondaries, white, black, a mid grey and two skin-ish tones
    (0, 0, 255), (0, 255, 0), (255, 0, 0), (255, 255, 0), (255, 0, 255), (0, 255, 255),
    (255, 255, 255), (0, 0, 0), (128, 128, 128), (90, 140, 220), (40, 80, 150), (200, 60, 30),
]


def patches() -> np.ndarray:
    """Two rows of 32x32 patches (BGR)."""
    per_row = len(COLOURS_BGR) // 2
    image = np.zeros((2 * PATCH, per_row * PATCH, 3), np.uint8)
    for i, colour in enumerate(COLOURS_BGR):
        row, col = divmod(i, per_row)
        image[row * PATCH:(row + 1) * PATCH, col * PATCH:(col + 1) * PATCH] = colour
    return image


def patch_centres(image: np.ndarray) -> np.ndarray:
    """The mean colour of each patch's central 16x16 (away from chroma-subsampled edges)."""
    per_row = len(COLOURS_BGR) // 2
    means = []
    for i in range(len(COLOURS_BGR)):
        row, col = divmod(i, per_row)
        y, x = row * PATCH + 8, col * PATCH + 8
        means.append(image[y:y + 16, x:x + 16].reshape(-1, 3).mean(axis=0))
    return np.array(means)


def ffmpeg_rgb(path: Path, width: int, height: int, force_bt709: bool) -> np.ndarray:
    """The last frame as RGB, converted by the ffmpeg CLI (from the tags, or as BT.709 regardless)."""
    command = ["ffmpeg", "-v", "error", "-i", str(path)]
    if force_bt709:
        command += ["-vf", "scale=in_color_matrix=bt709:in_range=tv:out_range=pc"]
    command += ["-f", "rawvideo", "-pix_fmt", "rgb24", "-"]
    done = subprocess.run(command, capture_output=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr.decode()
    frames = np.frombuffer(done.stdout, np.uint8).reshape(-1, height, width, 3)
    return frames[-1]


def colour_tags(path: Path) -> dict:
    done = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
                           "stream=color_range,color_space,color_transfer,color_primaries", "-of", "json", str(path)],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)["streams"][0]


@pytest.mark.parametrize("suffix", [".mp4", ".mkv", ".mov", ".webm", ".avi"])
def test_output_is_bt709_tagged_and_decodes_to_the_input_colours(tmp_path: Path, suffix: str) -> None:
    image = patches()
    out = tmp_path / f"colours{suffix}"
    with VideoFileSink(out, fps=25.0, time_base=Fraction(1, 25)) as sink:
        for index in range(3):
            sink.write(Frame(image, index, pts=index, time_base=Fraction(1, 25)))
    assert colour_tags(out) == {"color_range": "tv", "color_space": "bt709", "color_transfer": "bt709",
                                "color_primaries": "bt709"}
    expected = patch_centres(image[..., ::-1].astype(np.float64))
    height, width = image.shape[:2]
    for force in (False, True):
        got = patch_centres(ffmpeg_rgb(out, width, height, force).astype(np.float64))
        error = np.abs(got - expected).max()
        assert error <= 4, f"force_bt709={force}: off by {error:.1f} levels\n{np.round(got - expected, 1)}"


@pytest.mark.parametrize("suffix", [".mp4", ".mkv", ".mov"])
def test_mpeg4_fallback_is_tagged_too(tmp_path: Path, suffix: str) -> None:
    out = tmp_path / f"mpeg4{suffix}"
    with VideoFileSink(out, fps=25.0, time_base=Fraction(1, 25), codec="mpeg4") as sink:
        sink.write(Frame(patches(), 0, pts=0, time_base=Fraction(1, 25)))
    tags = colour_tags(out)
    assert (tags["color_space"], tags["color_transfer"], tags["color_primaries"]) == ("bt709",) * 3


def blocky_image(seed: int, width: int = 96, height: int = 64) -> np.ndarray:
    """Random colours in 4x4 blocks, so 4:2:0 chroma is exact whichever way it is averaged."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (height // 4, width // 4, 3), dtype=np.uint8)
    return np.repeat(np.repeat(small, 4, axis=0), 4, axis=1)


def test_conversion_matches_swscale_bt709_limited() -> None:
    import av
    from av.video.reformatter import ColorRange, Colorspace

    from stream.sinks.colour import bgr_to_yuv420

    image = blocky_image(7)
    ours = bgr_to_yuv420(image).astype(int)
    reference = av.VideoFrame.from_ndarray(image, format="bgr24").reformat(
        format="yuv420p", dst_colorspace=Colorspace.ITU709, dst_color_range=ColorRange.MPEG).to_ndarray().astype(int)
    assert ours.shape == reference.shape == (96, 96)
    assert np.abs(ours - reference).max() <= 1
    luma = ours[:64]
    assert luma.min() >= 16 and luma.max() <= 235  # limited range


def test_conversion_is_not_bt601() -> None:
    import cv2

    from stream.sinks.colour import bgr_to_yuv420

    red = np.zeros((4, 4, 3), np.uint8)
    red[..., 2] = 255
    assert bgr_to_yuv420(red)[0, 0] == 63  # BT.709: 16 + 219 * 0.2126
    assert cv2.cvtColor(red, cv2.COLOR_BGR2YUV_I420)[0, 0] == 82  # BT.601: 16 + 219 * 0.299
