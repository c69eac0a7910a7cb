"""Webcams asked for the pixel format their size and rate need (``capture.fourcc``).

A real USB camera is not needed: ``FakeCamera`` stands in for ``cv2.VideoCapture``, records
every ``set()`` in order and answers as a camera does (a format it offers is taken, one it
does not is refused and its own kept).
"""

from __future__ import annotations

import logging

import cv2
import numpy as np
import pytest

from stream import launch
from stream.config.settings import load_settings
from stream.core.errors import ConfigError
from stream.sources import SourceOptions, open_source
from tests.test_reliability import GreyDepth

MJPG = cv2.VideoWriter.fourcc(*"MJPG")
YUYV = cv2.VideoWriter.fourcc(*"YUYV")
NAMES = {cv2.CAP_PROP_BUFFERSIZE: "buffer", cv2.CAP_PROP_FOURCC: "fourcc", cv2.CAP_PROP_FRAME_WIDTH: "width",
         cv2.CAP_PROP_FRAME_HEIGHT: "height", cv2.CAP_PROP_FPS: "fps"}


class FakeCamera:
    """A USB camera offering ``formats`` (YUYV by default), recording the ``set()`` calls it gets."""

    formats = {YUYV, MJPG}
    calls: list[tuple[str, float]] = []

    def __init__(self, index: int, backend: int) -> None:
        self.props = {cv2.CAP_PROP_FOURCC: float(YUYV), cv2.CAP_PROP_FRAME_WIDTH: 640.0,
                      cv2.CAP_PROP_FRAME_HEIGHT: 480.0, cv2.CAP_PROP_FPS: 30.0}
        FakeCamera.calls = []

    def isOpened(self) -> bool:
        return True

    def set(self, prop: int, value: float) -> bool:
        FakeCamera.calls.append((NAMES.get(prop, str(prop)), value))
        if prop == cv2.CAP_PROP_FOURCC and int(value) not in self.formats:
            return False
        self.props[prop] = float(value)
        return True

    def get(self, prop: int) -> float:
        return self.props.get(prop, 0.0)

    def read(self):
        height, width = int(self.props[cv2.CAP_PROP_FRAME_HEIGHT]), int(self.props[cv2.CAP_PROP_FRAME_WIDTH])
        return True, np.full((height, width, 3), 90, np.uint8)

    def release(self) -> None:
        pass


@pytest.fixture
def camera(monkeypatch: pytest.MonkeyPatch) -> type[FakeCamera]:
    monkeypatch.setattr("stream.sources.webcam.cv2.VideoCapture", FakeCamera)
    monkeypatch.setattr(FakeCamera, "formats", {YUYV, MJPG})
    return FakeCamera


def opened(width: int, height: int, fps: float | None, fourcc: str = "auto") -> str:
    with open_source("0", SourceOptions(width=width, height=height, fps=fps, fourcc=fourcc)) as source:
        return source.info.description


def test_720p_at_30_fps_asks_for_mjpg_before_size_and_rate(camera) -> None:
    assert opened(1280, 720, 30) == "webcam 0 MJPG"
    names = [name for name, _ in camera.calls]
    assert names == ["buffer", "fourcc", "width", "height", "fps"]  # OpenCV wants the format first
    assert camera.calls[1] == ("fourcc", MJPG)


@pytest.mark.parametrize("size,fps", [((640, 480), 30), ((640, 480), None), ((1280, 720), 5)])
def test_what_raw_frames_carry_keeps_the_cameras_own_format(camera, size, fps) -> None:
    assert opened(*size, fps) == "webcam 0 YUYV"
    assert "fourcc" not in [name for name, _ in camera.calls]


def test_fourcc_setting_overrides_the_rule(camera) -> None:
    assert opened(1920, 1080, 30, "YUYV") == "webcam 0 YUYV"
    assert ("fourcc", YUYV) in camera.calls


def test_a_format_the_camera_refuses_is_said(camera, monkeypatch) -> None:
    monkeypatch.setattr(FakeCamera, "formats", {YUYV})
    assert opened(1280, 720, 30).startswith("webcam 0 YUYV (asked for MJPG;")


def test_startup_line_names_the_format_from_config(camera, monkeypatch, caplog, tmp_path) -> None:
    monkeypatch.setattr("stream.runtime.estimators.make_estimators", lambda _settings, _copies, _threads: [GreyDepth()])
    caplog.set_level(logging.INFO, logger="stream")
    code = launch.main(["--source", "0", "--headless", "--max-frames", "2", "--output", str(tmp_path / "o.mp4"),
                        "--set", "capture.width=1920", "--set", "capture.height=1080", "--fps", "30"])
    assert code == 0
    assert any(r.getMessage().startswith("source: webcam 0 MJPG (1920x1080") for r in caplog.records), caplog.text
    assert ("fourcc", MJPG) in camera.calls


@pytest.mark.parametrize("value", ["MJPEG", "mjp", "€ABC"])
def test_fourcc_that_is_no_code_is_one_line(value) -> None:
    with pytest.raises(ConfigError, match="capture.fourcc .* is not .auto. or a four-character code; use e.g. MJPG"):
        load_settings(None, {"capture": {"fourcc": value}})
