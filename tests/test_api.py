"""The public Python API (``stream.load_estimator``, ``stream.estimate``, ``stream.DepthStream``) and the README's examples of it."""

from __future__ import annotations

import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

import stream
from stream.core.errors import StageError
from stream.core.protocols import DepthResult
from tests.media import make_video, pattern_frame, run_bounded

ROOT = Path(__file__).resolve().parents[1]
FAST = {"engine": "onnxruntime", "precision": "fp32"}  # skip the auto engine measurement


def depth_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("depth-") and t.is_alive()]


def wait_for_no_depth_threads(seconds: float) -> list[str]:
    deadline = time.monotonic() + seconds
    while (alive := depth_threads()) and time.monotonic() < deadline:
        time.sleep(0.01)
    return alive


def test_estimate_one_picture(random_onnx: Path) -> None:
    image = pattern_frame(3, 160, 120)
    result = stream.estimate(image, model=random_onnx, **FAST)
    assert isinstance(result, DepthResult)
    assert result.depth.dtype == np.float32 and result.depth.shape == (120, 160)
    assert np.isfinite(result.depth).all()
    times = result.times
    assert min(times.preprocess, times.inference, times.upsample) >= 0 and times.inference > 0
    again = stream.estimate(image, model=random_onnx, **FAST)  # the cached estimator: same model, same numbers
    np.testing.assert_array_equal(again.depth, result.depth)


def test_load_estimator_matches_estimate_and_is_shareable(random_onnx: Path) -> None:
    estimator = stream.load_estimator(model=random_onnx, **FAST)
    images = [pattern_frame(i, 96, 64) for i in range(4)]
    expected = [estimator.estimate(image).depth for image in images]
    results: list[np.ndarray | None] = [None] * len(images)

    def work(number: int) -> None:
        results[number] = estimator.estimate(images[number]).depth

    threads = [threading.Thread(target=work, args=(n,)) for n in range(len(images))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    for got, want in zip(results, expected):
        assert got is not None
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(("image", "names"), [
    (np.zeros((120, 160), np.uint8), "COLOR_GRAY2BGR"),
    (np.zeros((120, 160, 3), np.float32), "uint8"),
    (np.zeros((120, 160, 4), np.uint8), "COLOR_BGRA2BGR"),
    (np.zeros((2, 120, 160, 3), np.uint8), "H x W x 3"),
    ([[0, 0, 0]], "cv2.imread"),
])
def test_wrong_picture_raises_value_error_naming_the_fix(random_onnx: Path, image, names: str) -> None:
    estimator = stream.load_estimator(model=random_onnx, **FAST)
    with pytest.raises(ValueError, match=re.escape(names)):
        estimator.estimate(image)
    # checked before any model loads: a missing model file is not even looked at
    with pytest.raises(ValueError, match=re.escape(names)):
        stream.estimate(image, model="no-such-model.onnx")


def test_import_stream_is_cheap() -> None:
    code = ("import sys, stream; heavy = [m for m in ('numpy', 'cv2', 'onnxruntime', 'torch', 'openvino') if m in sys.modules]; "
            "print(stream.__version__, heavy); assert not heavy, heavy; "
            "assert {'DepthStream', 'load_estimator', 'estimate', 'DepthResult', 'run'} <= set(stream.__all__)")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("0.2.0 []")


def test_lazy_names_resolve() -> None:
    from stream.api import DepthStream
    from stream.runtime.run import run

    assert stream.DepthStream is DepthStream and stream.run is run and stream.DepthResult is DepthResult
    with pytest.raises(AttributeError):
        stream.no_such_name  # noqa: B018


def test_file_stream_yields_every_frame_in_order(tmp_path: Path, random_onnx: Path) -> None:
    clip = make_video(tmp_path / "clip.mp4", 96, 64, 12, fps=25)
    with stream.DepthStream(clip, model=random_onnx, **FAST) as frames:
        assert not frames.live and frames.info.width == 96 and frames.info.height == 64
        results = list(frames)
    assert [r.index for r in results] == list(range(12))
    pts = [r.pts for r in results]
    assert all(isinstance(p, float) for p in pts)
    assert all(b > a for a, b in zip(pts, pts[1:]))
    assert pts == pytest.approx([i / 25 for i in range(12)])
    for result in results:
        assert result.frame is not None and result.frame.shape == (64, 96, 3) and result.frame.dtype == np.uint8
        assert result.depth.shape == (64, 96) and result.depth.dtype == np.float32
        assert result.normalized is not None and result.normalized.shape == (64, 96)
        assert result.normalized.min() >= 0.0 and result.normalized.max() <= 1.0
        assert result.times.inference > 0  # each frame's own timings reached the caller
    stats = frames.stats
    assert stats.displayed == 12 and stats.dropped == 0
    assert not depth_threads()


def test_settings_as_keywords_nested_or_dotted(random_onnx: Path) -> None:
    estimator = stream.load_estimator(model=random_onnx, **FAST)
    with stream.DepthStream("synthetic:64x48", estimator=estimator, max_frames=4,
                            **{"display.normalize": "frame", "capture.queue_size": 2}) as frames:
        indexes = [r.index for r in frames]
        assert frames.settings.display.normalize == "frame" and frames.settings.capture.queue_size == 2
    assert indexes == [0, 1, 2, 3]


def test_break_from_a_live_stream_stops_every_thread(random_onnx: Path) -> None:
    with stream.DepthStream("synthetic:160x120", model=random_onnx, mode="live", capture={"fps": 30}, **FAST) as frames:
        assert frames.live
        seen = []
        for result in frames:
            seen.append(result.index)
            if len(seen) == 10:
                break
        assert depth_threads()  # still running until the with block ends
    assert not wait_for_no_depth_threads(1.0), depth_threads()
    assert seen == sorted(set(seen))  # newest frames, in order, none twice
    assert next(iter(frames), None) is None  # closed: nothing more


def test_estimator_error_is_raised_in_the_loop_naming_the_stage() -> None:
    class Broken:
        def estimate(self, image: np.ndarray) -> DepthResult:
            raise RuntimeError("model exploded")

    frames = stream.DepthStream("synthetic:64x48", estimator=Broken(), max_frames=5)
    with frames, pytest.raises(StageError, match="inference") as caught:
        for _ in frames:
            pass
    assert caught.value.stage == "inference"
    assert "model exploded" in str(caught.value)
    assert stream.StageError is StageError
    assert not wait_for_no_depth_threads(1.0)


def test_works_off_the_main_thread(random_onnx: Path) -> None:
    def consume() -> list[int]:
        assert threading.current_thread() is not threading.main_thread()
        with stream.DepthStream("synthetic:64x48", model=random_onnx, max_frames=6, **FAST) as frames:
            return [result.index for result in frames]

    assert run_bounded(consume, timeout=60) == list(range(6))


def test_closing_without_iterating_and_twice(random_onnx: Path) -> None:
    frames = stream.DepthStream("synthetic:64x48", model=random_onnx, max_frames=3, **FAST)
    frames.close()
    frames.close()
    assert list(frames) == []
    assert not depth_threads()


# -- the README's examples, run as written ------------------------------------------------------------------------
def readme_examples() -> list[str]:
    text = (ROOT / "README.md").read_text()
    start = text.index("\n## Python API\n")
    end = text.index("\n## ", start + 1)
    return re.findall(r"```python\n(.*?)```", text[start:end], re.S)


def test_readme_python_api_examples_run(tmp_path: Path, random_onnx: Path, monkeypatch: pytest.MonkeyPatch,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    """Each block runs as a user would type it, in a folder holding ``photo.jpg`` and ``video.mp4``.

    The one thing replaced is the model a bare ``load_estimator()`` fetches: the official weights
    need the internet, so the seeded random model stands in for them (same network, same path
    through engine choice and loading); the conftest pins ``auto`` to ONNX Runtime fp32.
    """
    from stream.model import resolve

    real = resolve.resolve_model

    def offline(onnx, weights, cache_dir, precision="fp32", progress=True, **model):
        if onnx is None and weights is None:
            onnx = random_onnx
        return real(onnx, weights, cache_dir, precision, progress, **model)

    monkeypatch.setattr(resolve, "resolve_model", offline)
    monkeypatch.chdir(tmp_path)
    cv2.imwrite("photo.jpg", pattern_frame(0, 160, 120))
    make_video(tmp_path / "video.mp4", 96, 64, 8, fps=25)

    blocks = readme_examples()
    assert len(blocks) >= 2, "the README's Python API section lost its examples"
    assert any("load_estimator()" in block for block in blocks) and any("DepthStream(" in block for block in blocks)
    for block in blocks:
        exec(compile(block, "README.md (Python API)", "exec"), {"__name__": "__readme__"})
    printed = capsys.readouterr().out
    assert "(120, 160)" in printed  # the photo's depth is at the photo's size
    assert "frames seen" in printed
    assert not wait_for_no_depth_threads(1.0)
