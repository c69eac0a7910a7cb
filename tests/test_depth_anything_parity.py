"""Our Depth Anything V2 Small against an independent implementation: Hugging Face transformers'
``DepthAnythingForDepthEstimation``, given the same random weights through a name mapping.

One difference is deliberate and checked on its own: the published DINOv2 resizes its
position embeddings with ``scale_factor = (grid + 0.1) / 37`` (``interpolate_offset``), which
the checkpoints were made with and which we follow; transformers resizes to the grid's size
(offset 0). The comparison therefore runs our network with ``interpolate_offset=0``, and
``test_depth_anything.py`` checks the 0.1 resize against the DINOv2 formula itself.
"""

from __future__ import annotations

import re
import sys

import pytest
import torch

from stream.model.checkpoint import random_network
from stream.model.depth_anything import DepthAnythingV2

pytestmark = pytest.mark.usefixtures("one_torch_thread")
SIZES = [(140, 196), (252, 252), (182, 322)]


@pytest.fixture(scope="module")
def transformers():
    """Imported once per module (it takes seconds).

    transformers imports torchvision whenever it looks installed, and the torchvision in this
    environment does not load beside this torch ("operator torchvision::nms does not exist").
    A ``None`` entry in ``sys.modules`` makes that import fail as "not installed", so
    transformers goes on without it; nothing here needs torchvision.
    """
    sys.modules.setdefault("torchvision", None)
    return pytest.importorskip("transformers")


def hf_model(transformers, max_depth: float | None) -> torch.nn.Module:
    backbone = transformers.Dinov2Config(
        hidden_size=384, num_attention_heads=6, num_hidden_layers=12, patch_size=14, image_size=518,
        out_indices=[3, 6, 9, 12], reshape_hidden_states=False, layerscale_value=1.0, apply_layernorm=True,
    )
    config = transformers.DepthAnythingConfig(
        backbone_config=backbone, fusion_hidden_size=64, neck_hidden_sizes=[48, 96, 192, 384], head_hidden_size=32,
        reassemble_hidden_size=384, depth_estimation_type="metric" if max_depth else "relative", max_depth=int(max_depth or 1),  # 5.x wants an int
    )
    return transformers.DepthAnythingForDepthEstimation(config).eval()


ENCODER_NAMES = {"cls_token": "embeddings.cls_token", "pos_embed": "embeddings.position_embeddings",
                 "mask_token": "embeddings.mask_token", "patch_embed.proj": "embeddings.patch_embeddings.projection",
                 "norm": "layernorm"}
BLOCK_NAMES = {"attn.proj": "attention.o_proj", "ls1.gamma": "layer_scale1.lambda1", "ls2.gamma": "layer_scale2.lambda1"}
HEAD_NAMES = {"scratch.output_conv1": "head.conv1", "scratch.output_conv2.0": "head.conv2", "scratch.output_conv2.2": "head.conv3"}
FUSION_NAMES = {"out_conv": "projection", "resConfUnit": "residual_layer", "conv1": "convolution1", "conv2": "convolution2"}


def to_transformers(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Our (the official) tensor names -> transformers', splitting each fused qkv into q, k and v."""
    out: dict[str, torch.Tensor] = {}
    for name, tensor in state.items():
        if name.startswith("pretrained.blocks."):
            index, rest = name.removeprefix("pretrained.blocks.").split(".", 1)
            prefix = f"backbone.encoder.layer.{index}."
            if rest.startswith("attn.qkv."):
                kind = rest.rsplit(".", 1)[1]
                for part, chunk in zip(("q_proj", "k_proj", "v_proj"), tensor.chunk(3, dim=0)):
                    out[f"{prefix}attention.{part}.{kind}"] = chunk
                continue
            out[prefix + rename(rest, BLOCK_NAMES)] = tensor
        elif name.startswith("pretrained."):
            out["backbone." + rename(name.removeprefix("pretrained."), ENCODER_NAMES)] = tensor
        else:
            out[head_name(name.removeprefix("depth_head."))] = tensor
    return out


def rename(name: str, table: dict[str, str]) -> str:
    for ours, theirs in table.items():
        if name == ours or name.startswith(ours + "."):
            return theirs + name[len(ours):]
    return name


def head_name(name: str) -> str:
    if match := re.fullmatch(r"projects\.(\d)\.(\w+)", name):
        return f"neck.reassemble_stage.layers.{match[1]}.projection.{match[2]}"
    if match := re.fullmatch(r"resize_layers\.(\d)\.(\w+)", name):
        return f"neck.reassemble_stage.layers.{match[1]}.resize.{match[2]}"
    if match := re.fullmatch(r"scratch\.layer(\d)_rn\.(\w+)", name):
        return f"neck.convs.{int(match[1]) - 1}.{match[2]}"
    if match := re.fullmatch(r"scratch\.refinenet(\d)\.(.+)", name):  # transformers fuses coarse to fine: refinenet4 first
        rest = match[2]
        for ours, theirs in FUSION_NAMES.items():
            rest = rest.replace(ours, theirs)
        return f"neck.fusion_stage.layers.{4 - int(match[1])}.{rest}"
    return rename(name, HEAD_NAMES)


def relative_difference(ours: torch.Tensor, theirs: torch.Tensor) -> float:
    return float((ours - theirs).abs().max() / theirs.abs().max())


@pytest.fixture(scope="module", params=[("depth-anything-v2-small", None), ("depth-anything-v2-small-indoor", 20.0)],
                ids=["relative", "metric"])
def pair(request, transformers) -> tuple[torch.nn.Module, torch.nn.Module]:
    """Our network (offset 0, see the module docstring) and transformers', holding the same random weights."""
    name, max_depth = request.param
    state = random_network(5, name).state_dict()
    ours = DepthAnythingV2(max_depth=max_depth, interpolate_offset=0.0).eval()
    ours.load_state_dict(state, strict=True)
    theirs = hf_model(transformers, max_depth)
    mapped = to_transformers(state)
    assert len(mapped) == len(theirs.state_dict()) == 239 + 12 * 4  # every tensor mapped; qkv weight and bias split in three
    theirs.load_state_dict(mapped, strict=True)
    return ours, theirs


@pytest.mark.parametrize("height,width", SIZES)
def test_same_depth_as_transformers(pair, height: int, width: int) -> None:
    ours, theirs = pair
    image = torch.randn(1, 3, height, width, generator=torch.Generator().manual_seed(height + width))
    with torch.no_grad():
        mine, reference = ours(image), theirs(pixel_values=image).predicted_depth
    assert mine.shape == reference.shape == (1, height, width)
    assert reference.abs().max() > 0 and reference.std() > 0  # a real map, not all zeros
    assert relative_difference(mine, reference) <= 1e-4
