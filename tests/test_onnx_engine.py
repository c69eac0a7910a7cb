"""ONNX export and the OnnxRuntimeEstimator: parity with torch, dynamic shapes, sizes, caching."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import onnx
import pytest
import torch

from stream.core.errors import ModelError
from stream.engines.base import network_size
from stream.engines.onnxruntime import OnnxRuntimeEstimator
from stream.model import export as export_mod
from stream.model.checkpoint import network_from_file
from stream.model.export import onnx_for_weights


@pytest.fixture(scope="module")
def torch_model(random_weights):
    return network_from_file(random_weights)


@pytest.fixture(scope="module")
def estimator(random_onnx):
    return OnnxRuntimeEstimator(random_onnx, threads=2)


@pytest.mark.parametrize("height,width", [(256, 256), (192, 256), (256, 192)])
def test_onnx_matches_torch(torch_model, estimator, height, width) -> None:
    x = torch.from_numpy(np.random.default_rng(height + width).standard_normal((1, 3, height, width), dtype=np.float32))
    with torch.no_grad():
        expected = torch_model(x).numpy()[0]
    got = estimator.infer(x.numpy())
    assert got.shape == (height, width)
    rel = np.abs(got - expected).max() / np.abs(expected).max()
    assert rel <= 1e-4
    assert np.abs(expected).max() > 0.1  # the comparison is not between two blank maps


def test_exported_graph_has_dynamic_height_width(random_onnx) -> None:
    graph = onnx.load(str(random_onnx), load_external_data=False).graph
    (image,) = graph.input
    (depth,) = graph.output
    assert image.name == "image" and depth.name == "depth"
    dims = [d.dim_param or d.dim_value for d in image.type.tensor_type.shape.dim]
    assert dims[1] == 3
    assert isinstance(dims[2], str) and isinstance(dims[3], str)
    out_dims = [d.dim_param or d.dim_value for d in depth.type.tensor_type.shape.dim]
    assert isinstance(out_dims[1], str) and isinstance(out_dims[2], str)
    opset = {o.domain: o.version for o in onnx.load(str(random_onnx), load_external_data=False).opset_import}
    assert opset[""] >= 17


@pytest.mark.parametrize("size", ["640x480", "1280x720", "1920x1080", "640x272", "176x144", "480x640", "256x256", "1000x100"])
def test_network_size_facts_from_manifest(manifest, size) -> None:
    width, height = map(int, size.split("x"))
    expected = manifest["preprocessing"]["input_WxH_to_network_WxH"][size]
    assert "{}x{}".format(*network_size(width, height)) == expected


@pytest.mark.parametrize("width,height", [(640, 480), (1280, 720), (176, 144), (175, 143)])
def test_predict_returns_frame_size(estimator, width, height) -> None:
    frame = np.random.default_rng(0).integers(0, 255, (height, width, 3), dtype=np.uint8)
    depth = estimator.predict(frame)
    assert depth.shape == (height, width) and depth.dtype == np.float32
    net_w, net_h = network_size(width, height)
    assert estimator.preprocess(frame).shape == (1, 3, net_h, net_w)


def test_preprocess_follows_manifest(manifest, estimator) -> None:
    """RGB order, [0,1] scaling, cubic resize and ImageNet normalisation, checked by hand."""
    frame = np.zeros((480, 640, 3), np.uint8)
    frame[:, :, 0] = 255  # pure blue in BGR
    tensor = estimator.preprocess(frame)[0]
    mean = manifest["preprocessing"]["normalize_mean"]
    std = manifest["preprocessing"]["normalize_std"]
    np.testing.assert_allclose(tensor[0], (0 - mean[0]) / std[0], atol=1e-5)  # R
    np.testing.assert_allclose(tensor[2], (1 - mean[2]) / std[2], atol=1e-5)  # B
    gradient = np.tile(np.linspace(0, 255, 640, dtype=np.float32).astype(np.uint8)[None, :, None], (480, 1, 3))
    rgb = cv2.cvtColor(gradient, cv2.COLOR_BGR2RGB).astype(np.float32) / 255.0
    resized = cv2.resize(rgb, (256, 192), interpolation=cv2.INTER_CUBIC)
    expected = ((resized - np.array(mean, np.float32)) / np.array(std, np.float32)).transpose(2, 0, 1)
    np.testing.assert_allclose(estimator.preprocess(gradient)[0], expected, atol=1e-4)


def test_upsample_matches_torch_bicubic() -> None:
    depth = np.random.default_rng(3).random((96, 128), dtype=np.float32)
    expected = torch.nn.functional.interpolate(torch.from_numpy(depth)[None, None], size=(240, 320), mode="bicubic", align_corners=False)[0, 0].numpy()
    got = OnnxRuntimeEstimator.upsample(depth, 320, 240)
    inner = (slice(4, -4), slice(4, -4))  # border handling differs by a clamp
    np.testing.assert_allclose(got[inner], expected[inner], atol=1e-4)


def test_second_export_reuses_cache(random_weights, random_onnx, model_cache, monkeypatch) -> None:
    calls = []
    monkeypatch.setattr(export_mod, "export_onnx", lambda *a, **k: calls.append(a))
    again = onnx_for_weights(random_weights, model_cache)
    assert again == random_onnx and calls == []


def test_cache_key_changes_with_weights_and_settings(tmp_path, random_weights, monkeypatch) -> None:
    name = export_mod.cached_onnx_name("ab" * 32)
    assert name != export_mod.cached_onnx_name("cd" * 32)
    monkeypatch.setitem(export_mod.EXPORT_SETTINGS, "opset", 18)
    assert export_mod.cached_onnx_name("ab" * 32) != name


def test_foreign_model_with_fixed_size_runs(tmp_path) -> None:
    """Any NCHW float depth model works; a fixed input size is honoured."""
    class Tiny(torch.nn.Module):
        def forward(self, x):
            return x.mean(dim=1, keepdim=True)

    path = tmp_path / "tiny.onnx"
    torch.onnx.export(Tiny(), (torch.zeros(1, 3, 64, 96),), str(path), dynamo=False, opset_version=17, input_names=["x"], output_names=["y"])
    est = OnnxRuntimeEstimator(path)
    depth = est.predict(np.zeros((100, 150, 3), np.uint8))
    assert depth.shape == (100, 150)
    assert est.preprocess(np.zeros((100, 150, 3), np.uint8)).shape == (1, 3, 64, 96)


@pytest.mark.parametrize("shape,match", [((1, 3, 64), "rank 3"), ((1, 1, 64, 64), "1 channels")])
def test_model_with_wrong_input_is_rejected(tmp_path, shape, match) -> None:
    class Identity(torch.nn.Module):
        def forward(self, x):
            return x * 2

    path = tmp_path / "bad.onnx"
    torch.onnx.export(Identity(), (torch.zeros(*shape),), str(path), dynamo=False, opset_version=17)
    with pytest.raises(ModelError, match=match) as err:
        OnnxRuntimeEstimator(path)
    assert "bad.onnx" in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize("content", [b"", b"not an onnx model at all", bytes(range(256)) * 10])
def test_corrupt_or_missing_onnx_is_rejected(tmp_path, content) -> None:
    path = tmp_path / "broken.onnx"
    path.write_bytes(content)
    with pytest.raises(ModelError, match="broken.onnx"):
        OnnxRuntimeEstimator(path)
    with pytest.raises(ModelError, match="not found"):
        OnnxRuntimeEstimator(tmp_path / "nope.onnx")


def test_cached_run_never_imports_torch(random_weights, random_onnx, model_cache) -> None:
    """Once exported, starting the app costs no torch import (seconds saved on every run)."""
    import subprocess
    import sys

    code = (
        "import sys; from stream.model.resolve import resolve_model; "
        f"p = resolve_model(None, {str(random_weights)!r}, {str(model_cache)!r}); "
        f"assert str(p) == {str(random_onnx)!r}, p; "
        "assert 'torch' not in sys.modules, 'torch was imported'"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=Path(__file__).parents[1])
    assert result.returncode == 0, result.stderr
