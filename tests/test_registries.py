"""Registries where things vary (issue 18): a toy engine, source kind and depth format, registered
through the public names (``stream.ENGINES``, ``stream.SOURCES``, ``stream.DEPTH_FORMATS``) and run
end to end by the real command; each is removed again when its test ends.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

import stream
from stream.core.errors import ConfigError
from stream.core.frames import Closing, DepthFrame, Frame, Normalised
from stream.core.protocols import DepthResult
from stream.core.registry import Registry
from stream.engines.base import BaseEstimator
from stream.export.base import DepthFileSink
from stream.launch import main
from stream.sources.base import SourceInfo, SourceKind, SourceOptions, frame_time_base


# -- toys ------------------------------------------------------------------------------------------------------------
class Echo(BaseEstimator):
    """Depth = the picture's grey level: what the output shows is easy to predict."""

    engine = "echo"

    def estimate(self, image: np.ndarray) -> DepthResult:
        return DepthResult(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY).astype(np.float32))


def make_echo(model: Path, _threads: int, net_size: int, precision: str, _cache: Path | None, _spin: bool) -> BaseEstimator:
    echo = Echo(model, net_size)
    echo.precision = precision
    return echo


class SolidFrames(Closing):
    """``toy:N``: N frames of 64 x 48, each one solid grey level brighter than the last."""

    def __init__(self, count: int) -> None:
        self.count, self.index = count, 0
        self.info = SourceInfo(64, 48, 10.0, count, frame_time_base(10.0), SourceKind.FILE, f"toy {count} frames")

    def read(self) -> Frame | None:
        if self.index >= self.count:
            return None
        image = np.full((48, 64, 3), 40 + 20 * self.index, np.uint8)
        frame = Frame(image, self.index, pts=self.index, time_base=self.info.time_base)
        self.index += 1
        return frame


def open_toy(spec: str, _options: SourceOptions) -> SolidFrames:
    return SolidFrames(int(spec.partition(":")[2]))


class MeanPerLine(DepthFileSink):
    """``.txt``: the depth's mean, one line per frame (written under a temporary name, like every format)."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.lines: list[str] = []

    def _write(self, item: DepthFrame, normalised: Normalised) -> None:
        self.lines.append(f"{float(item.depth.mean()):.3f}")

    def _finish(self) -> None:
        self.staged.path_for(self.path).write_text("\n".join(self.lines) + "\n")


@pytest.fixture
def echo() -> Iterator[stream.Engine]:
    with stream.ENGINES.registered("echo", stream.Engine("echo", ("fp32",), make_echo, "grey level, for tests")) as entry:
        yield entry
    assert "echo" not in stream.ENGINES


@pytest.fixture
def toy_source() -> Iterator[stream.SourceKindEntry]:
    entry = stream.SourceKindEntry("toy", lambda spec: spec.startswith("toy:"), open_toy)
    with stream.SOURCES.registered("toy", entry):
        yield entry
    assert "toy" not in stream.SOURCES


@pytest.fixture
def txt_format() -> Iterator[stream.DepthFormat]:
    with stream.DEPTH_FORMATS.registered(".txt", stream.DepthFormat(".txt", False, lambda path, _fps: MeanPerLine(path))) as entry:
        yield entry
    assert ".txt" not in stream.DEPTH_FORMATS


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, list[str]]:
    code = main(["--headless", "--quiet", *argv])
    return code, capsys.readouterr().err.strip().splitlines()


def decode(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [frame.to_ndarray(format="bgr24") for frame in container.decode(video=0)]


# -- the registry itself ---------------------------------------------------------------------------------------------
def test_a_registry_keeps_order_refuses_twice_and_names_the_choices() -> None:
    numbers: Registry[Callable[[], int]] = Registry("number", last="many")
    numbers.register("one", lambda: 1)
    numbers.register("many", lambda: 99)

    @numbers.register("two")
    def two() -> int:
        return 2

    assert numbers.names() == ("one", "two", "many") and "two" in numbers and numbers.get("two")() == 2
    with pytest.raises(ValueError, match="already registered"):
        numbers.register("one", lambda: 11)
    with pytest.raises(ConfigError, match="unknown number 'three'; choose one of one, two, many"):
        numbers.get("three")
    with numbers.registered("three", lambda: 3):
        assert numbers.names() == ("one", "two", "three", "many")
    assert "three" not in numbers


# -- a toy engine ----------------------------------------------------------------------------------------------------
def test_a_registered_engine_runs_the_real_command(echo, random_onnx, tmp_path, capsys) -> None:
    out = tmp_path / "out.mp4"
    code, lines = run(capsys, "--engine", "echo", "--precision", "fp32", "--source", "synthetic:64x48", "--max-frames", "3",
                      "--model", str(random_onnx), "--colormap", "gray", "--normalize", "frame",
                      "--set", "display.overlay=false", "--output", str(out))
    assert code == 0, lines
    frames = decode(out)
    assert len(frames) == 3
    for frame in frames:
        picture = cv2.cvtColor(frame[:, :64], cv2.COLOR_BGR2GRAY).astype(np.float32)
        depth = cv2.cvtColor(frame[:, 64:], cv2.COLOR_BGR2GRAY).astype(np.float32)
        assert np.corrcoef(picture.ravel(), depth.ravel())[0, 1] > 0.9  # the right half follows the picture


def test_a_registered_engine_with_auto_precision_is_built_without_measuring(echo, random_onnx, monkeypatch) -> None:
    from stream.engines import choose

    monkeypatch.setattr(choose, "decide", lambda *a, **k: pytest.fail("measured an engine with one precision"))
    estimator = stream.load_estimator(random_onnx, engine="echo")
    assert estimator.engine == "echo" and estimator.precision == "fp32"


def test_engine_choices_come_from_the_registry(echo, capsys) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["--headless", "--engine", "nonsense", "--source", "synthetic:64x48"])
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert exit_.value.code == 2 and "invalid choice: 'nonsense'" in error and "'echo'" in error, error
    code, lines = run(capsys, "--set", "model.engine=nonsense", "--source", "synthetic:64x48")
    assert code == 2 and len(lines) == 1 and "unknown engine 'nonsense'" in lines[0] and "echo" in lines[0], lines


def test_an_unregistered_engine_is_refused_again(capsys) -> None:
    with pytest.raises(SystemExit):
        main(["--headless", "--engine", "echo"])
    assert "invalid choice: 'echo'" in capsys.readouterr().err


# -- a toy source kind -----------------------------------------------------------------------------------------------
def test_a_registered_source_kind_runs_end_to_end(echo, toy_source, random_onnx, tmp_path, capsys) -> None:
    assert stream.SOURCES.names()[-1] == "file"  # a new kind goes before the catch-all
    out = tmp_path / "out.mp4"
    code, lines = run(capsys, "--source", "toy:4", "--engine", "echo", "--precision", "fp32", "--model", str(random_onnx),
                      "--output", str(out), "--set", "display.overlay=false")  # the picture half's mean, not the overlay's
    assert code == 0, lines
    frames = decode(out)
    assert len(frames) == 4
    assert [round(float(frame[:, :64].mean())) for frame in frames] == pytest.approx([40, 60, 80, 100], abs=3)


# -- a toy depth format ----------------------------------------------------------------------------------------------
def test_a_registered_depth_format_is_written(echo, txt_format, random_onnx, tmp_path, capsys) -> None:
    depth = tmp_path / "depth.txt"
    code, lines = run(capsys, "--source", "synthetic:64x48", "--max-frames", "3", "--engine", "echo", "--precision", "fp32",
                      "--model", str(random_onnx), "--depth-output", str(depth))
    assert code == 0, lines
    means = [float(line) for line in depth.read_text().splitlines()]
    assert len(means) == 3 and all(0 < mean < 255 for mean in means)


def test_an_unknown_extension_lists_the_registered_formats(txt_format, tmp_path, capsys) -> None:
    code, lines = run(capsys, "--source", "synthetic:64x48", "--depth-output", str(tmp_path / "depth.xyz"))
    assert code == 2 and len(lines) == 1 and "unknown extension '.xyz'" in lines[0] and ".txt" in lines[0], lines


def test_a_registered_kind_is_never_taken_for_a_photo_or_a_folder(toy_source, tmp_path) -> None:
    """The photo and photo-folder checks read the same registry as ``open_source``: its kinds are not paths."""
    from stream.config.settings import load_settings
    from stream.runtime.photos import is_image_batch
    from stream.sources.registry import is_photo

    assert is_photo("toy:still.png") is False
    assert is_image_batch(load_settings(None, {"source": "toy:*.png", "output": str(tmp_path)})) is False
    photo = tmp_path / "still.png"
    cv2.imwrite(str(photo), np.zeros((8, 8, 3), np.uint8))
    assert is_photo(str(photo)) is True


def test_precision_choices_and_format_help_come_from_the_registries(txt_format, capsys) -> None:
    """An engine that runs fp16 makes fp16 a precision; a registered depth format shows in --help."""
    from stream.config.settings import load_settings
    from stream.core.errors import ConfigError

    half = stream.Engine("half", ("fp16",), make_echo, "for tests")
    with stream.ENGINES.registered("half", half):
        assert load_settings(None, {"model": {"engine": "half", "precision": "fp16"}}).model.precision == "fp16"
        with pytest.raises(SystemExit):
            main(["--help"])
        assert ".txt" in capsys.readouterr().out
    with pytest.raises(ConfigError, match="unknown precision 'fp16'"):
        load_settings(None, {"model": {"precision": "fp16"}})
