"""ONNX export per model: the model's facts in the file's metadata, per-model cache names, and
height and width that stay dynamic (ONNX Runtime matches torch at sizes other than the traced one).

The exported random-weights files come from the session's ``random_onnx_for`` (made once).
"""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from stream.core.modelinfo import ModelInfo
from stream.model.checkpoint import network_from_file
from stream.model.export import cached_onnx_name, export_settings_key, onnx_for_weights, trace_shape
from stream.model.registry import MODELS

pytestmark = pytest.mark.usefixtures("one_torch_thread")
RELATIVE, INDOOR = "depth-anything-v2-small", "depth-anything-v2-small-indoor"


def session(path) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.log_severity_level = 3
    options.intra_op_num_threads = 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def metadata(path) -> dict[str, str]:
    return {p.key: p.value for p in onnx.load(str(path), load_external_data=False).metadata_props}


@pytest.mark.parametrize("name", ["midas-small", RELATIVE, INDOOR])
def test_exported_file_carries_the_models_facts(random_onnx_for, name: str) -> None:
    info = ModelInfo.from_metadata(metadata(random_onnx_for(name)), fallback_name="none")
    assert info == MODELS.get(name).info


def test_midas_metadata_says_what_a_midas_file_is(random_onnx) -> None:
    info = ModelInfo.from_metadata(metadata(random_onnx), fallback_name="none")
    assert (info.name, info.output, info.multiple, info.upsample, info.max_depth) == ("midas-small", "relative", 32, "bicubic", None)


def test_cache_names_are_per_model(random_onnx_for, random_checkpoint_for, model_cache) -> None:
    path = random_onnx_for(RELATIVE)
    key = export_settings_key()
    assert path.parent == model_cache and path.name.startswith(f"{RELATIVE}-") and path.name.endswith(f"-{key}.onnx")
    assert cached_onnx_name("ab" * 32, RELATIVE) != cached_onnx_name("ab" * 32, INDOOR)
    stamp = path.stat().st_mtime_ns
    assert onnx_for_weights(random_checkpoint_for(RELATIVE), model_cache, name=RELATIVE) == path  # cached: not exported again
    assert path.stat().st_mtime_ns == stamp


def test_trace_shapes_follow_the_models_multiple() -> None:
    assert trace_shape(MODELS.get("midas-small").info) == (1, 3, 256, 256)
    assert trace_shape(MODELS.get(RELATIVE).info) == (1, 3, 252, 252)


def relative_difference(got: np.ndarray, expected: np.ndarray) -> float:
    return float(np.abs(got - expected).max() / np.abs(expected).max())


@pytest.mark.parametrize("name,shape", [
    (RELATIVE, (1, 3, 252, 252)),  # the traced size
    (RELATIVE, (1, 3, 196, 252)),
    (RELATIVE, (2, 3, 252, 364)),
    (RELATIVE, (1, 3, 126, 98)),   # an odd patch grid (9 x 7): the coarsest map is rounded up
    (INDOOR, (1, 3, 182, 322)),
])
def test_onnxruntime_matches_torch_at_any_size(random_onnx_for, random_checkpoint_for, name: str, shape: tuple[int, ...]) -> None:
    image = torch.randn(shape, generator=torch.Generator().manual_seed(sum(shape)))
    with torch.no_grad():
        expected = network_from_file(random_checkpoint_for(name), name)(image).numpy()
    got = session(random_onnx_for(name)).run(None, {"image": image.numpy()})[0]
    assert got.shape == (shape[0], shape[2], shape[3])
    assert relative_difference(got, expected) <= 1e-4
