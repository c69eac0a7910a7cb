"""Depth Anything V2 Small (relative, and metric indoor/outdoor) in plain PyTorch.

``DepthAnythingV2`` mirrors ``depth_anything_v2/dpt.py`` (``encoder="vits"``, features 64,
out_channels [48, 96, 192, 384]): a DINOv2 ViT-S/14 encoder under ``pretrained``
(``stream.model.dinov2``) and a DPT head under ``depth_head`` (``stream.model.dpt``), fed
with the final-normed patch tokens of blocks 2, 5, 8 and 11. Its ``state_dict()`` has
exactly the official checkpoints' 239 names and shapes, so they load with
``strict=True``; the relative and the two metric checkpoints share them and differ only in
what the head ends with: ReLU (relative inverse depth) or sigmoid x ``max_depth`` (metres).

Input: N x 3 x H x W normalised RGB, H and W multiples of 14 (the patch size; the
preprocessing in ``stream.engines.base`` rounds to ``ModelInfo.multiple``). Output: N x H x W.
"""

from __future__ import annotations

import torch
from torch import nn

from stream.core.modelinfo import ModelInfo
from stream.model.dinov2 import INTERPOLATE_OFFSET, PATCH, vit_small
from stream.model.dpt import DPTHead

LAYERS = (2, 5, 8, 11)  # the ViT-S blocks whose tokens the head reads


class DepthAnythingV2(nn.Module):
    """ViT-S/14 encoder + DPT head: N x 3 x H x W -> N x H x W depth (relative, or metres when ``max_depth``)."""

    def __init__(self, max_depth: float | None = None, interpolate_offset: float = INTERPOLATE_OFFSET) -> None:
        super().__init__()
        self.max_depth = max_depth
        self.pretrained = vit_small(interpolate_offset)
        self.depth_head = DPTHead(in_channels=384, features=64, widths=(48, 96, 192, 384), metric=max_depth is not None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        rows, cols = x.shape[-2] // PATCH, x.shape[-1] // PATCH
        tokens = self.pretrained.intermediate_layers(x, LAYERS)
        depth = self.depth_head(tokens, rows, cols)
        if self.max_depth is not None:
            depth = depth * self.max_depth
        return depth.squeeze(1)


def build_depth_anything(info: ModelInfo) -> DepthAnythingV2:
    """The network for a registered Depth Anything V2 Small model, randomly initialised, in eval mode."""
    if info.multiple != PATCH:
        raise ValueError(f"{info.name}: a ViT-S/14 needs input multiples of {PATCH}, not {info.multiple}")
    return DepthAnythingV2(max_depth=info.max_depth if info.is_metric else None).eval()
