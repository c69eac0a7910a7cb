"""Engines follow the model file's metadata (issue 19): input multiple, mean/std, upsampling, metres.

A tiny hand-made ViT (``tests/vit.py``) stands in for Depth Anything: its graph fails unless
both sides are multiples of 14, so an engine feeding it MiDaS's sizes cannot pass. MiDaS
itself is the session's random-weights export, which carries no metadata, as files did
before models carried it.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import onnx
import pytest

from stream.core.errors import ModelError
from stream.core.modelinfo import MIDAS_SMALL, ModelInfo
from stream.engines import choose, make_engine
from stream.engines.base import IMAGENET_MEAN, IMAGENET_STD, BaseEstimator, network_size
from stream.engines.choose import Choice, Row, decide, depth_diff
from stream.engines.metadata import read_info, read_props
from stream.engines.quantize import VIT_FLOAT_OPS, carry_metadata, int8_for_model, quant_settings, quantised_op_types
from stream.engines.quantize import varied_frames as scenes
from stream.model.registry import MODELS
from tests.test_engines import CountingTimer
from tests.vit import export_tiny_vit, metadata_of, with_metadata, without_metadata

ENGINES = ["onnxruntime", "openvino"]
INDOOR = MODELS.get("depth-anything-v2-small-indoor").info
RELATIVE = MODELS.get("depth-anything-v2-small").info
FRAMES = scenes(3, 160, 120, seed=7)


@pytest.fixture(scope="module")
def vits(tmp_path_factory) -> dict[str, Path]:
    """The tiny ViT as Depth Anything's metric indoor and relative models, and the metric graph with no metadata."""
    folder = tmp_path_factory.mktemp("tiny-vit")
    plain = export_tiny_vit(folder / "plain.onnx", seed=1, max_depth=20.0)
    return {
        "indoor": with_metadata(plain, folder / "indoor.onnx", INDOOR.metadata()),
        "relative": export_tiny_vit(folder / "relative.onnx", seed=2, metadata=RELATIVE.metadata()),
        "plain": plain,
        "renamed": with_metadata(plain, folder / "renamed.onnx", {**INDOOR.metadata(), "depth_stream.model": "another-indoor-model"}),
        "bicubic": with_metadata(plain, folder / "bicubic.onnx",  # allowed by the metadata, if no model of ours does it
                                 ModelInfo("metric-bicubic", "metric", 20.0, 14, upsample="bicubic", net_size=252).metadata()),
    }


def engine(path: Path, name: str, cache: Path, net_size: int | None = None) -> BaseEstimator:
    return make_engine(path, name, "fp32", threads=1, net_size=net_size, cache_dir=cache)


@pytest.mark.parametrize("name", ENGINES)
def test_both_engines_read_the_metadata_and_feed_multiples_of_14(vits, model_cache, name) -> None:
    estimator = engine(vits["indoor"], name, model_cache)
    assert estimator.info == INDOOR == read_info(vits["indoor"]) and estimator.net_size == INDOOR.net_size == 252
    for width, height in ((160, 120), (640, 480), (480, 640), (1000, 100), (50, 30)):
        net_w, net_h = estimator.preprocess(np.zeros((height, width, 3), np.uint8)).shape[3:1:-1]
        assert net_w % 14 == 0 and net_h % 14 == 0 and max(net_w, net_h) <= 252, (width, height, net_w, net_h)
    assert estimator.input_size(640, 480) == (252, 196) and network_size(640, 480, 256, 14) == (252, 196)
    smaller = engine(vits["indoor"], name, model_cache, net_size=140)
    assert smaller.net_size == 140 and smaller.input_size(640, 480) == (140, 112)
    for frame in FRAMES:
        depth = estimator.predict(frame)  # the graph itself fails on a side that is not a multiple of 14
        assert depth.shape == frame.shape[:2] and depth.dtype == np.float32
        assert depth.min() >= 0 and depth.max() <= 20.0


def test_openvino_runs_the_vit_with_one_compiled_model_per_input_size(vits, model_cache) -> None:
    ov, ort = engine(vits["indoor"], "openvino", model_cache), engine(vits["indoor"], "onnxruntime", model_cache)
    frames = [FRAMES[0], cv2.resize(FRAMES[1], (200, 100)), FRAMES[2]]
    for frame in frames:
        np.testing.assert_allclose(ov.predict(frame), ort.predict(frame), atol=1e-3 * 20.0)
    assert sorted(ov._requests) == [(1, 3, 126, 252), (1, 3, 196, 252)]


@pytest.mark.parametrize("key, method", [("indoor", "bilinear"), ("relative", "bilinear"), ("bicubic", "bicubic")])
def test_output_upsampling_is_chosen_by_the_metadata(vits, model_cache, key, method) -> None:
    estimator = engine(vits[key], "onnxruntime", model_cache)
    assert estimator.info.upsample == method
    frame = FRAMES[0]
    network = estimator.infer(estimator.preprocess(frame))
    interpolation = {"bilinear": cv2.INTER_LINEAR, "bicubic": cv2.INTER_CUBIC}[method]
    np.testing.assert_array_equal(estimator.predict(frame), cv2.resize(network, (160, 120), interpolation=interpolation))


def test_a_metric_model_never_gives_negative_metres(vits, model_cache) -> None:
    """Bicubic overshoots below 0 at a sharp step; a metric model's output is clipped there."""
    estimator = engine(vits["bicubic"], "onnxruntime", model_cache)
    step = np.zeros((14, 14), np.float32)
    step[:, 7:] = 20.0
    assert BaseEstimator.upsample(step, 140, 140, "bicubic").min() < -0.5  # the overshoot is real
    clipped = estimator.postprocess(step, 140, 140)
    assert clipped.min() == 0.0 and clipped.max() > 20.0  # only negative metres are cut
    relative = engine(vits["plain"], "onnxruntime", model_cache)
    np.testing.assert_array_equal(relative.postprocess(step, 140, 140), BaseEstimator.upsample(step, 140, 140))


def test_a_file_without_metadata_runs_exactly_as_before(random_onnx, tmp_path, model_cache) -> None:
    """MiDaS without metadata: relative, multiples of 32, ImageNet mean/std, bicubic; the same numbers with MiDaS's metadata."""
    bare = without_metadata(random_onnx, tmp_path / "bare.onnx")
    plain = engine(bare, "onnxruntime", model_cache)
    assert plain.info == ModelInfo(name=bare.stem) and plain.net_size == 256
    assert (plain.info.multiple, plain.info.upsample, plain.info.output) == (32, "bicubic", "relative")
    np.testing.assert_array_equal(plain._scale, (1.0 / (255.0 * IMAGENET_STD)).astype(np.float32))
    np.testing.assert_array_equal(plain._offset, (IMAGENET_MEAN / IMAGENET_STD).astype(np.float32))
    labelled = engine(with_metadata(bare, tmp_path / "midas.onnx", MIDAS_SMALL.metadata()), "onnxruntime", model_cache)
    assert labelled.info == MIDAS_SMALL
    for frame in FRAMES:
        np.testing.assert_array_equal(labelled.preprocess(frame), plain.preprocess(frame))
        np.testing.assert_array_equal(labelled.predict(frame), plain.predict(frame))


@pytest.mark.parametrize("name", ENGINES)
@pytest.mark.parametrize("bad, problem", [
    ({"depth_stream.output": "metres"}, "output kind 'metres'"),
    ({"depth_stream.output": "metric"}, "positive max_depth"),
    ({"depth_stream.multiple": "fourteen"}, "fourteen"),
    ({"depth_stream.upsample": "nearest"}, "upsample 'nearest'"),
])
def test_bad_metadata_is_refused_in_one_line_naming_the_file(vits, model_cache, tmp_path, name, bad, problem) -> None:
    path = with_metadata(vits["plain"], tmp_path / "bad-meta.onnx", {**RELATIVE.metadata(), **bad})
    with pytest.raises(ModelError) as err:
        engine(path, name, model_cache)
    message = str(err.value)
    assert "\n" not in message and str(path) in message and "metadata" in message and problem in message
    with pytest.raises(ModelError, match="bad-meta.onnx"):
        read_info(path)


def test_bad_metadata_stops_the_app_with_exit_code_2(vits, tmp_path, capsys) -> None:
    from stream import launch

    path = with_metadata(vits["plain"], tmp_path / "bad-meta.onnx", {"depth_stream.net_size": "-3"})
    code = launch.main(["--source", "synthetic", "--headless", "--max-frames", "1", "--model", str(path)])
    lines = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and "bad-meta.onnx" in lines[0] and "metadata" in lines[0], lines


def test_metadata_is_read_without_the_onnx_package_as_onnx_reads_it(vits, random_onnx, tmp_path) -> None:
    for path in (*vits.values(), random_onnx):
        assert read_props(path) == metadata_of(path)
    for content in (b"", b"not an onnx model", bytes(range(256)) * 10):
        (tmp_path / "junk.onnx").write_bytes(content)
        assert read_props(tmp_path / "junk.onnx") == {}
    assert read_props(tmp_path / "missing.onnx") == {}


# -- int8 ------------------------------------------------------------------------------------------------------------
def test_the_int8_copy_of_a_vit_keeps_its_metadata_and_its_float_ops(vits, tmp_path, model_cache) -> None:
    int8 = int8_for_model(vits["indoor"], tmp_path, scenes(4, 160, 120))
    assert int8 != vits["indoor"] and read_info(int8) == INDOOR
    assert {k: v for k, v in metadata_of(int8).items() if k.startswith("depth_stream.")} == INDOOR.metadata()
    asked = quantised_op_types(INDOOR)
    assert asked is not None and {"Conv", "MatMul"} <= set(asked) and not set(asked) & set(VIT_FLOAT_OPS)
    assert quantised_op_types(MIDAS_SMALL) is None  # MiDaS: ONNX Runtime's default, as before
    graph = onnx.load(str(int8)).graph
    made_by = {out: node.op_type for node in graph.node for out in node.output}
    fed_int8 = {node.op_type for node in graph.node if any(made_by.get(i) == "DequantizeLinear" for i in node.input)}
    assert {"Conv", "MatMul"} <= fed_int8  # the layers where int8 pays are quantised
    fp32 = engine(vits["indoor"], "onnxruntime", model_cache)
    for name in ENGINES:
        int8_engine = make_engine(vits["indoor"], name, "int8", threads=1, cache_dir=tmp_path)
        assert int8_engine.model_path == int8 and int8_engine.info == INDOOR
        assert np.mean([depth_diff(int8_engine.predict(f), fp32.predict(f), INDOOR) for f in FRAMES]) <= 0.01, name


def test_metadata_the_quantiser_dropped_is_put_back(vits, tmp_path) -> None:
    target = with_metadata(vits["plain"], tmp_path / "dropped.onnx", {"depth_stream.model": "stale", "other": "kept"})
    carry_metadata(vits["indoor"], target)
    assert metadata_of(target) == {**INDOOR.metadata(), "other": "kept"}
    before = target.stat().st_mtime_ns
    carry_metadata(vits["indoor"], target)  # nothing missing: the file is left alone
    assert target.stat().st_mtime_ns == before


def test_int8_settings_differ_for_a_vit_and_stay_as_before_for_midas() -> None:
    assert quant_settings(MIDAS_SMALL) == "qdq-u8s8-perchannel-minmax-v1"
    assert quant_settings(INDOOR) != quant_settings(MIDAS_SMALL) and quant_settings(INDOOR) == quant_settings(RELATIVE)


# -- auto ------------------------------------------------------------------------------------------------------------
def test_a_metric_depth_diff_counts_metres_that_normalising_would_hide() -> None:
    expected = np.linspace(1.0, 5.0, 100, dtype=np.float32).reshape(10, 10)
    offset = expected + 0.4  # every pixel 0.4 m farther: the same shape, wrong metres
    assert depth_diff(offset, expected, RELATIVE) < 1e-6
    assert depth_diff(offset, expected, INDOOR) == pytest.approx(0.4 / 20.0, rel=1e-5)


@pytest.mark.measures_engines
def test_the_auto_decision_is_kept_per_model_name(vits, tmp_path) -> None:
    """Same graph, same net size, other model name in the metadata: another key and another decision file."""
    keys = [choose.fingerprint(vits[k], "auto", "fp32", 1, None) for k in ("indoor", "renamed")]
    assert (keys[0]["model"], keys[1]["model"]) == (INDOOR.name, "another-indoor-model") and keys[0]["output"] == "metric"
    assert keys[0]["net_size"] == 252 and keys[0] == choose.fingerprint(vits["indoor"], "auto", "fp32", 1, 252)
    assert choose.decision_path(tmp_path, keys[0]) != choose.decision_path(tmp_path, keys[1])
    timer = CountingTimer()
    for key in ("indoor", "renamed"):
        decide(vits[key], "auto", "fp32", 1, None, tmp_path, budget=0.01, timer=timer, frames=FRAMES[:1])
    files = sorted((tmp_path / "engines").glob("*.json"))
    assert len(files) == 2 and len(timer.calls) == 4 * choose.ROUNDS
    assert sorted(json.loads(f.read_text())["key"]["model"] for f in files) == ["another-indoor-model", INDOOR.name]
    assert any(INDOOR.name in f.name for f in files)


# -- the engines table -----------------------------------------------------------------------------------------------
def fake_decide(model, engine, precision, threads, net_size, cache, budget=0.0, **shape) -> Choice:
    return Choice("onnxruntime", "fp32", "pinned", [Row("onnxruntime", "fp32", 0.01, 0.0)])


def test_engines_table_names_its_model_and_what_the_diff_means(vits, tmp_path, monkeypatch, capsys) -> None:
    from stream.model import table
    from stream.model.__main__ import main

    monkeypatch.setattr(table, "decide", fake_decide)
    assert main(["engines", "--model", str(vits["indoor"]), "--cache-dir", str(tmp_path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith(f"model: {INDOOR.name} (metric depth in metres, up to 20 m)")
    assert "network input up to 252 px (multiples of 14)" in lines[0] and "metres / 20 m" in lines[0]
    assert lines[1].startswith("shape live: one engine x ") and lines[2].split()[:2] == ["engine", "precision"]
    assert lines[-1] == "auto: onnxruntime fp32 (pinned)"


@pytest.mark.parametrize("name", ["midas-small", "depth-anything-v2-small-indoor"])
def test_engines_table_for_a_model_name_with_a_random_seed(vits, random_onnx, tmp_path, monkeypatch, capsys, name) -> None:
    """The named architecture is built with seeded random weights and exported with its metadata (here: stand-ins)."""
    import shutil

    from stream.model import table
    from stream.model.__main__ import main

    built, exported = [], []
    stand_in = random_onnx if name == "midas-small" else vits["indoor"]
    monkeypatch.setattr("stream.model.checkpoint.random_network", lambda seed, **kw: built.append((seed, kw)) or "net")
    monkeypatch.setattr("stream.model.export.export_onnx",
                        lambda model, path, *info: exported.append((model, path.name, info)) or shutil.copy(stand_in, path))
    monkeypatch.setattr(table, "decide", fake_decide)
    args = ["engines", "--model-name", name, "--random-seed", "3", "--cache-dir", str(tmp_path), "--net-size", "128"]
    assert main(args) == 0 and main(args) == 0  # the second run reuses the export
    file = f"random-{name}-seed-3.onnx"
    assert built == [(3, {"name": name})] and exported == [("net", file, (MODELS.get(name).info,))]
    multiple = 32 if name == "midas-small" else 14
    assert f"network input up to 128 px (multiples of {multiple})" in capsys.readouterr().out.splitlines()[0]


def test_engines_table_takes_the_official_weights_of_a_model_name(vits, tmp_path, monkeypatch, capsys) -> None:
    from stream.model import table
    from stream.model.__main__ import main

    asked = []
    monkeypatch.setattr("stream.model.resolve.resolve_model", lambda *a, **k: asked.append((a[:2], k)) or vits["relative"])
    monkeypatch.setattr(table, "decide", fake_decide)
    assert main(["engines", "--model-name", RELATIVE.name, "--cache-dir", str(tmp_path)]) == 0
    assert asked == [((None, None), {"name": RELATIVE.name})]
    assert capsys.readouterr().out.startswith(f"model: {RELATIVE.name} (relative inverse depth, no unit)")


def test_engines_table_refuses_a_file_that_is_not_the_model_named_in_one_line(vits, tmp_path, monkeypatch, capsys) -> None:
    from stream.model import table
    from stream.model.__main__ import main

    monkeypatch.setattr("stream.model.resolve.resolve_model", lambda onnx, *a, **k: onnx)
    monkeypatch.setattr(table, "decide", fake_decide)
    argv = ["engines", "--cache-dir", str(tmp_path), "--model", str(vits["indoor"]), "--model-name"]
    assert main([*argv, INDOOR.name]) == 0
    capsys.readouterr()
    assert main([*argv, RELATIVE.name]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and f"holds {INDOOR.name}, not the {RELATIVE.name}" in lines[0], lines
