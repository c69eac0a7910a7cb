"""Depth Anything V2 Small in torch: the official checkpoint layout, the position-embedding
resize, random weights that look like depth, and checkpoints of the wrong model refused in one line.

The independent check of the numbers (against Hugging Face transformers) is in
``test_depth_anything_parity.py``; the ONNX export in ``test_model_export.py``.
"""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F  # noqa: N812

from stream.core.errors import ModelError
from stream.model import build_network
from stream.model.checkpoint import load_weights, network_from_file, random_network
from stream.model.depth_anything import DepthAnythingV2
from stream.model.dinov2 import VisionTransformer
from tests.conftest import DATA

RELATIVE, INDOOR, OUTDOOR = "depth-anything-v2-small", "depth-anything-v2-small-indoor", "depth-anything-v2-small-outdoor"
pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def da2_manifest() -> dict:
    return json.loads((DATA / "depth_anything_v2_small.manifest.json").read_text())


@pytest.fixture(scope="module")
def relative() -> torch.nn.Module:
    return random_network(11, RELATIVE)


def scene(height: int, width: int, seed: int = 0) -> torch.Tensor:
    """A normalised frame with a bright square on smooth noise: something for depth to find."""
    generator = torch.Generator().manual_seed(seed)
    image = F.interpolate(torch.randn(1, 3, 6, 8, generator=generator), size=(height, width), mode="bilinear")
    image[:, :, height // 4: 3 * height // 4, width // 3: 2 * width // 3] += 2.0
    return image


@pytest.mark.parametrize("name", [RELATIVE, INDOOR, OUTDOOR])
def test_state_dict_matches_manifest_exactly(name: str, da2_manifest: dict) -> None:
    model = build_network(name)
    got = [[key, list(t.shape)] for key, t in model.state_dict().items()]
    assert len(got) == da2_manifest["tensor_count"] == 239
    assert got == da2_manifest["tensors"]
    assert sum(p.numel() for p in model.parameters()) == da2_manifest["parameter_count"] == 24_785_089


def test_checkpoint_with_the_manifests_names_loads_strict(da2_manifest: dict, tmp_path) -> None:
    generator = torch.Generator().manual_seed(0)
    state = {key: torch.randn(shape, generator=generator) for key, shape in da2_manifest["tensors"]}
    path = tmp_path / "depth_anything_v2_vits.pth"
    torch.save(state, path)
    model = network_from_file(path, INDOOR)
    assert not model.training
    for key, tensor in state.items():
        assert torch.equal(model.state_dict()[key], tensor), key


def test_registry_serves_the_manifests_urls_licence_and_preprocessing(da2_manifest: dict) -> None:
    from stream.model.registry import MODELS

    facts = da2_manifest["preprocessing"]
    for name, checkpoint in da2_manifest["checkpoints"].items():
        spec = MODELS.get(name)
        assert spec.url == checkpoint["url"] and spec.url.endswith("/" + spec.filename)
        assert spec.licence == "Apache-2.0" and spec.licence in da2_manifest["license"]
        info = spec.info
        assert (info.multiple, info.trained_size, list(info.mean), list(info.std)) == (facts["patch"], facts["trained_size"],
                                                                                       facts["mean"], facts["std"])
        assert info.is_metric == ("metres" in checkpoint["output"])
        assert info.max_depth is None or f"max_depth = {info.max_depth:g}" in checkpoint["output"]


def test_midas_still_builds() -> None:
    model = build_network("midas-small")
    assert type(model).__name__ == "MidasSmall" and not model.training


@pytest.mark.parametrize("height,width", [(252, 252), (140, 196), (126, 98)])
def test_output_is_n_h_w_at_the_input_size(relative, height: int, width: int) -> None:
    with torch.no_grad():
        out = relative(scene(height, width).repeat(2, 1, 1, 1))
    assert out.shape == (2, height, width)
    assert (out >= 0).all()


@pytest.mark.parametrize("height,width", [(252, 252), (182, 322), (518, 518), (518, 532), (700, 140), (98, 126)])
def test_position_embeddings_resize_as_dinov2_does(height: int, width: int) -> None:
    """The official formula: bicubic with scale_factor (grid + 0.1) / 37, unchanged for a 518 x 518 input."""
    torch.manual_seed(0)
    vit = VisionTransformer()
    table = vit.pos_embed
    rows, cols = height // 14, width // 14
    if rows == cols == 37 and height == width:
        expected = table
    else:
        grid = table[:, 1:].reshape(1, 37, 37, 384).permute(0, 3, 1, 2)
        resized = F.interpolate(grid, scale_factor=((rows + 0.1) / 37, (cols + 0.1) / 37), mode="bicubic", antialias=False)
        expected = torch.cat((table[:, :1], resized.permute(0, 2, 3, 1).reshape(1, -1, 384)), dim=1)
    with torch.no_grad():
        got = vit.position_embedding(height, width)
    assert got.shape == (1, 1 + rows * cols, 384)
    assert (got - expected).abs().max() < 1e-6


@pytest.mark.parametrize("height,width", [(252, 252), (182, 322), (518, 518)])
def test_position_embeddings_without_offset_are_a_plain_resize(height: int, width: int) -> None:
    """interpolate_offset=0 is what Hugging Face transformers does: a resize to the grid's size."""
    torch.manual_seed(0)
    vit = VisionTransformer(interpolate_offset=0.0)
    grid = vit.pos_embed[:, 1:].reshape(1, 37, 37, 384).permute(0, 3, 1, 2)
    resized = F.interpolate(grid, size=(height // 14, width // 14), mode="bicubic", align_corners=False)
    with torch.no_grad():
        got = vit.position_embedding(height, width)[:, 1:]
    assert (got - resized.permute(0, 2, 3, 1).reshape(1, -1, 384)).abs().max() < 1e-6


def test_random_relative_weights_are_seeded_and_look_like_depth(relative) -> None:
    again = random_network(11, RELATIVE)
    assert all(torch.equal(a, b) for a, b in zip(relative.state_dict().values(), again.state_dict().values()))
    with torch.no_grad():
        depth = relative(scene(252, 336))
    assert (depth > 0).float().mean() > 0.9
    assert depth.std() > 0.1 * depth.mean()


@pytest.mark.parametrize("name,max_depth", [(INDOOR, 20.0), (OUTDOOR, 80.0)])
def test_random_metric_weights_spread_inside_the_range(name: str, max_depth: float) -> None:
    model = random_network(11, name)
    assert isinstance(model, DepthAnythingV2) and model.max_depth == max_depth
    with torch.no_grad():
        depth = model(scene(252, 336))
    assert depth.min() > 0 and depth.max() < max_depth
    low, high = torch.quantile(depth.flatten(), torch.tensor([0.05, 0.95]))
    assert low < 0.4 * max_depth and high > 0.6 * max_depth  # spread over the range, not saturated at either end


# --- checkpoints of the wrong model ---------------------------------------------------------


def save(state: dict, path) -> str:
    torch.save(state, path)
    return str(path)


def one_line(err: pytest.ExceptionInfo) -> str:
    message = str(err.value)
    assert "\n" not in message
    return message


def test_midas_weights_for_depth_anything_are_named(manifest, tmp_path) -> None:
    path = save({key: torch.zeros(shape) for key, shape, _dtype in manifest["tensors"]}, tmp_path / "midas_v21_small_256.pt")
    with pytest.raises(ModelError) as err:
        network_from_file(path, RELATIVE)
    message = one_line(err)
    assert message.startswith(f"{path} is a MiDaS")
    assert "is a MiDaS v2.1 small checkpoint, not depth-anything-v2-small" in message
    assert "--model-name midas-small" in message


def test_depth_anything_weights_for_midas_are_named(da2_manifest, tmp_path) -> None:
    path = save({key: torch.zeros(shape) for key, shape in da2_manifest["tensors"]}, tmp_path / "depth_anything_v2_vits.pth")
    with pytest.raises(ModelError) as err:
        network_from_file(path, "midas-small")
    message = one_line(err)
    assert f"{path} is a Depth Anything V2 Small checkpoint, not midas-small" in message
    assert "--model-name depth-anything-v2-small (or -indoor / -outdoor)" in message


@pytest.mark.parametrize("width,size", [(768, "Base"), (1024, "Large"), (1536, "Giant")])
def test_larger_depth_anything_is_refused_for_its_licence(da2_manifest, width: int, size: str) -> None:
    """ViT-B/L/G checkpoints (the Small's names at the larger width): never offered (CC-BY-NC-4.0)."""
    state = {key: torch.empty([width if n == 384 else n for n in shape], device="meta") for key, shape in da2_manifest["tensors"]}
    for name in (RELATIVE, INDOOR, "midas-small"):
        with pytest.raises(ModelError) as err:
            load_weights(build_network(name), state, "depth_anything_v2_vitb.pth", name)
        message = one_line(err)
        assert f"depth_anything_v2_vitb.pth is a Depth Anything V2 {size}" in message
        assert "CC-BY-NC-4.0" in message and "not offered" in message and "--model-name depth-anything-v2-small" in message


def test_base_checkpoint_file_is_refused(tmp_path) -> None:
    """Read from a file, as a user would pass it (only the tensors that identify it, to keep the file small)."""
    state = {"pretrained.cls_token": torch.zeros(1, 1, 768), "pretrained.pos_embed": torch.zeros(1, 1370, 768),
             "depth_head.projects.0.weight": torch.zeros(96, 768, 1, 1)}
    path = save(state, tmp_path / "depth_anything_v2_vitb.pth")
    with pytest.raises(ModelError, match=r"Depth Anything V2 Base \(ViT-B, width 768\).*CC-BY-NC-4\.0") as err:
        network_from_file(path, RELATIVE)
    assert str(path) in one_line(err)


def test_relative_weights_load_for_a_metric_name(relative, tmp_path) -> None:
    """The relative and metric checkpoints share every name and shape: nothing can tell them apart."""
    path = save(relative.state_dict(), tmp_path / "w.pth")
    assert network_from_file(path, OUTDOOR).max_depth == 80.0


def test_a_misshapen_depth_anything_tensor_is_named(relative, tmp_path) -> None:
    state = dict(relative.state_dict())
    state["depth_head.scratch.output_conv1.weight"] = torch.zeros(16, 64, 3, 3)
    path = save(state, tmp_path / "w.pth")
    with pytest.raises(ModelError, match=r"output_conv1\.weight.*\(16, 64, 3, 3\).*\(32, 64, 3, 3\).*depth_anything_v2_vits\.pth"):
        network_from_file(path, RELATIVE)
