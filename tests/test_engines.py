"""Engines: OpenVINO beside ONNX Runtime on the random-weights model; auto measured once, cached, remade when stale."""

from __future__ import annotations

import functools
import json

import numpy as np
import pytest

from stream import launch
from stream.core.errors import ModelError
from stream.engines import choose, make_engine
from stream.engines.choose import ROUNDS, Row, decide, normalised_diff, pick
from stream.engines.openvino import has_bf16
from stream.engines.quantize import varied_frames

FRAMES = varied_frames(2, 160, 120, seed=5)


@pytest.fixture(scope="module")
def reference(random_onnx):
    ort = make_engine(random_onnx, "onnxruntime", "fp32", threads=2)
    return [ort.predict(frame) for frame in FRAMES]


def mean_diff(estimator, reference) -> float:
    return float(np.mean([normalised_diff(estimator.predict(f), r) for f, r in zip(FRAMES, reference)]))


def test_openvino_fp32_matches_onnxruntime(random_onnx, reference, model_cache) -> None:
    ov = make_engine(random_onnx, "openvino", "fp32", threads=2, cache_dir=model_cache)
    for frame, expected in zip(FRAMES, reference):
        got = ov.predict(frame)
        assert got.shape == expected.shape == frame.shape[:2] and got.dtype == np.float32
        assert np.abs(got - expected).max() <= 1e-3 * np.abs(expected).max()
    assert ov.estimate(FRAMES[0]).times.inference > 0 and ov.input_size(160, 120) == (256, 192)


@pytest.mark.parametrize("engine, precision", [("openvino", "bf16"), ("onnxruntime", "int8"), ("openvino", "int8")])
def test_reduced_precisions_stay_close(random_onnx, reference, model_cache, engine, precision) -> None:
    if precision == "bf16" and not has_bf16():
        pytest.skip("this CPU has no native bfloat16")
    estimator = make_engine(random_onnx, engine, precision, threads=2, cache_dir=model_cache)
    assert (estimator.engine, estimator.precision) == (engine, precision)
    assert mean_diff(estimator, reference) <= 0.02


def test_pick_is_the_fastest_within_tolerance() -> None:
    rows = [Row("onnxruntime", "fp32", 0.10, 0.0), Row("openvino", "int8", 0.02, 0.015),
            Row("openvino", "bf16", 0.04, 0.004), Row("openvino", "fp32", None, None, "cannot load")]
    choice = pick(rows)
    assert (choice.engine, choice.precision) == ("openvino", "bf16")
    assert choice.reason == "2.5x onnxruntime fp32 on this CPU, depth diff 0.004"
    with pytest.raises(ModelError, match="cannot load"):
        pick([Row("openvino", "fp32", None, None, "cannot load")])


class CountingTimer:
    """Deterministic 'timing' of a shape's copies: OpenVINO is twice as fast; counts how often anything is timed."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    def __call__(self, copies, frames, budget) -> float:
        self.calls.append((copies[0].engine, copies[0].precision))
        return 0.05 if copies[0].engine == "openvino" else 0.1


def every_round(*pairs: tuple[str, str]) -> list[tuple[str, str]]:
    return sorted(list(pairs) * ROUNDS)


@pytest.mark.measures_engines
def test_auto_is_measured_once_then_reused(random_onnx, tmp_path) -> None:
    timer = CountingTimer()
    first = decide(random_onnx, "auto", "fp32", 2, 64, tmp_path, budget=0.01, timer=timer, frames=FRAMES)
    assert (first.engine, first.precision) == ("openvino", "fp32") and sorted(timer.calls) == every_round(
        ("onnxruntime", "fp32"), ("openvino", "fp32"))
    assert first.reason.startswith("2.0x onnxruntime fp32") and first.reason.endswith("measured as live: one engine x 2 threads")
    again = decide(random_onnx, "auto", "fp32", 2, 64, tmp_path, budget=0.01, timer=timer, frames=FRAMES)
    assert len(timer.calls) == 2 * ROUNDS and again == first
    files = list((tmp_path / "engines").glob("*.json"))
    assert len(files) == 1 and json.loads(files[0].read_text())["engine"] == "openvino"


@pytest.mark.measures_engines
@pytest.mark.parametrize("damage", ["corrupt", "other-cpu", "other-version", "other-model"])
def test_a_corrupt_or_stale_decision_is_remade(random_onnx, tmp_path, damage) -> None:
    timer = CountingTimer()
    decide(random_onnx, "auto", "fp32", 2, 64, tmp_path, budget=0.01, timer=timer, frames=FRAMES)
    (path,) = (tmp_path / "engines").glob("*.json")
    data = json.loads(path.read_text())
    if damage == "corrupt":
        path.write_text('{"key": {"model_sha')
    else:
        field = {"other-cpu": "cpu", "other-version": "versions", "other-model": "model_sha256"}[damage]
        data["key"][field] = "something else"
        data["engine"] = "onnxruntime"
        path.write_text(json.dumps(data))
    remade = decide(random_onnx, "auto", "fp32", 2, 64, tmp_path, budget=0.01, timer=timer, frames=FRAMES)
    assert len(timer.calls) == 4 * ROUNDS and remade.engine == "openvino"
    saved = json.loads(path.read_text())
    assert saved["key"] == choose.fingerprint(random_onnx, "auto", "fp32", 2, 64) and saved["engine"] == "openvino"


@pytest.mark.measures_engines
def test_auto_survives_an_engine_that_cannot_run(random_onnx, tmp_path, monkeypatch) -> None:
    real = choose.make_engine

    def no_openvino(model, engine, *args, **kwargs):
        if engine == "openvino":
            raise ModelError("openvino cannot load it; use --engine onnxruntime")
        return real(model, engine, *args, **kwargs)

    monkeypatch.setattr(choose, "make_engine", no_openvino)
    choice = decide(random_onnx, "auto", "fp32", 2, 64, tmp_path, budget=0.01, timer=CountingTimer(), frames=FRAMES)
    assert (choice.engine, choice.precision) == ("onnxruntime", "fp32")
    assert [row.error for row in choice.rows if row.engine == "openvino"] == ["openvino cannot load it; use --engine onnxruntime"]


@pytest.mark.measures_engines
def test_a_set_precision_is_kept_when_auto_picks_the_engine(random_onnx, model_cache) -> None:
    timer = CountingTimer()
    choice = decide(random_onnx, "auto", "int8", 2, 64, model_cache, budget=0.01, timer=timer, frames=FRAMES)
    assert (choice.engine, choice.precision) == ("openvino", "int8") and sorted(timer.calls) == every_round(
        ("onnxruntime", "int8"), ("openvino", "int8"))


def run_cli(capsys, *argv: str) -> tuple[int, list[str]]:
    code = launch.main(["--source", "synthetic", "--headless", "--max-frames", "1", *argv])
    return code, capsys.readouterr().err.strip().splitlines()


def test_bf16_with_onnxruntime_is_refused(capsys, random_onnx) -> None:
    code, lines = run_cli(capsys, "--model", str(random_onnx), "--engine", "onnxruntime", "--precision", "bf16")
    assert code == 2 and len(lines) == 1 and "bf16" in lines[0] and "--engine openvino" in lines[0]


def test_bf16_on_a_cpu_without_it_is_refused(capsys, random_onnx, monkeypatch) -> None:
    monkeypatch.setattr("stream.engines.openvino.has_bf16", lambda: False)
    for engine in ("openvino", "auto"):
        code, lines = run_cli(capsys, "--model", str(random_onnx), "--engine", engine, "--precision", "bf16")
        assert code == 2 and len(lines) == 1 and "bf16" in lines[0] and "--precision fp32" in lines[0], lines


def test_an_impossible_engine_choice_is_refused_before_the_source_opens(capsys, random_onnx, monkeypatch) -> None:
    monkeypatch.setattr("stream.runtime.single.open_source", lambda *a, **k: pytest.fail("source opened"))
    code, lines = run_cli(capsys, "--model", str(random_onnx), "--engine", "onnxruntime", "--precision", "bf16")
    assert code == 2 and len(lines) == 1 and "--engine openvino" in lines[0]
    monkeypatch.setattr("stream.engines.openvino.has_bf16", lambda: False)
    code, lines = run_cli(capsys, "--model", str(random_onnx), "--precision", "bf16")
    assert code == 2 and len(lines) == 1 and "--precision fp32" in lines[0]


def test_openvino_that_cannot_load_the_model_is_refused(capsys, tmp_path) -> None:
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model")
    code, lines = run_cli(capsys, "--model", str(bad), "--engine", "openvino", "--precision", "fp32")
    assert code == 2 and len(lines) == 1 and "openvino cannot load" in lines[0] and "--engine onnxruntime" in lines[0]


def test_openvino_int8_that_cannot_compile_is_refused_before_any_work(random_onnx, model_cache, monkeypatch, capsys) -> None:
    """OpenVINO's CPU plugin cannot compile every QDQ graph (Depth Anything's): found when the engine is built, told by its telling line."""
    import openvino

    class FailingCore(openvino.Core):
        def compile_model(self, *_args, **_kwargs):
            raise RuntimeError("Exception from src/inference/src/cpp/core.cpp:117:\nCheck 'childEdgePtr' failed at "
                               "src/plugins/intel_cpu/src/node.cpp:703:\nNode Convert_1 contains empty child edge for index 0\n")

    monkeypatch.setattr(openvino, "Core", FailingCore)
    code, lines = run_cli(capsys, "--model", str(random_onnx), "--engine", "openvino", "--precision", "int8",
                          "--cache-dir", str(model_cache))
    assert code == 2 and len(lines) == 1 and "openvino cannot compile" in lines[0]
    assert "(Node Convert_1 contains empty child edge for index 0)" in lines[0] and "--engine onnxruntime" in lines[0]


@pytest.mark.measures_engines
def test_engines_command_prints_a_table_per_shape_and_remeasures(random_onnx, model_cache, monkeypatch, capsys) -> None:
    from stream.engines.shape import RunShape
    from stream.model import table
    from stream.model.__main__ import main

    timer = CountingTimer()
    monkeypatch.setattr(table, "decide", functools.partial(decide, timer=timer, frames=FRAMES))
    monkeypatch.setattr(table, "file_shape", lambda threads: RunShape(2, 1))
    argv = ["engines", "--model", str(random_onnx), "--cache-dir", str(model_cache), "--net-size", "64"]
    assert main([*argv, "--remeasure"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("forgot ") and lines[0].endswith("; measuring again")
    assert lines[1].startswith("model: midas-small (relative inverse depth, no unit); network input up to 64 px")
    assert [line for line in lines if line.startswith("shape ")] == [
        "shape live: one engine x default threads",
        "shape file: 2 engines at once x 1 thread (ms/frame and fps: all engines together)"]
    assert lines[3].split()[:2] == ["engine", "precision"] and lines[-1].startswith("auto: openvino ")
    assert any(line.startswith("openvino     fp32") for line in lines)
    timed = len([line for line in lines if line.split()[:1] in (["onnxruntime"], ["openvino"]) and "cannot run" not in line])
    assert len(timer.calls) == timed * ROUNDS
    both = len(timer.calls)
    assert main(argv) == 0 and len(timer.calls) == both  # cached: nothing measured
    capsys.readouterr()
    assert main([*argv, "--remeasure", "--shape", "file"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("forgot 2 cached decisions for ") and len(timer.calls) == both + both // 2
    assert [line for line in lines if line.startswith("shape ")] == [
        "shape file: 2 engines at once x 1 thread (ms/frame and fps: all engines together)"]
    saved = [json.loads(path.read_text())["key"] for path in (model_cache / "engines").glob("*.json")]
    shapes = [key["shape"] for key in saved if key["model_sha256"] == choose.fingerprint(random_onnx, "auto", "auto", 0, 64)[
        "model_sha256"]]
    assert shapes == ["file"]  # the live decision was forgotten and, not asked for, not made again


def test_openvino_engines_compiling_together_leave_the_process_locale_alone(random_onnx, tmp_path) -> None:
    """File mode meets a new input size in every engine at once; OpenVINO's compile flips the locale to C and back."""
    import locale

    from stream.pipeline.stages import Pipeline
    from stream.pipeline.stats import PipelineOptions
    from stream.sources import SyntheticSource

    before = locale.getpreferredencoding(False)
    engines = [make_engine(random_onnx, "openvino", "fp32", 1, cache_dir=tmp_path) for _ in range(2)]
    for size in ((160, 120), (128, 96)):  # each size: both engines compile at the same moment
        with SyntheticSource(*size, fps=30, num_frames=4) as source:
            Pipeline(source, engines[0], [], PipelineOptions(live=False), extra_estimators=engines[1:]).run()
        assert locale.getpreferredencoding(False) == before
