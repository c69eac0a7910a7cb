"""Hand-made ONNX depth models for the engine tests: a tiny ViT that needs multiples of 14, and metadata.

The real Depth Anything network is built elsewhere; the engines only need a graph with its
traits: patch-14 embedding, a transformer block (LayerNorm, MatMul, Softmax, GELU), a conv
head, x14 bilinear upsampling, and for a metric model ``sigmoid x max_depth``. The input is
added back to the output, so a side that is not a multiple of 14 makes the graph fail
instead of silently dropping pixels: an engine that feeds it wrong sizes cannot pass.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import onnx
import torch
import torch.nn.functional as F  # noqa: N812 - torch's own spelling
from torch import nn

from stream.engines.metadata import write_props

PATCH = 14


class TinyVit(nn.Module):
    def __init__(self, dim: int = 24, max_depth: float | None = None) -> None:
        super().__init__()
        self.max_depth = max_depth
        self.patch = nn.Conv2d(3, dim, PATCH, PATCH)
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.qkv, self.proj = nn.Linear(dim, 3 * dim), nn.Linear(dim, dim)
        self.fc1, self.fc2 = nn.Linear(dim, 2 * dim), nn.Linear(2 * dim, dim)
        self.head = nn.Conv2d(dim, 1, 3, padding=1)
        self.scale = dim ** -0.5

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, _, height, width = x.shape
        grid = self.patch(x)
        gh, gw = grid.shape[2], grid.shape[3]
        tokens = grid.flatten(2).transpose(1, 2)
        q, k, v = self.qkv(self.norm1(tokens)).chunk(3, dim=-1)
        attention = torch.softmax(q @ k.transpose(1, 2) * self.scale, dim=-1)
        tokens = tokens + self.proj(attention @ v)
        tokens = tokens + self.fc2(F.gelu(self.fc1(self.norm2(tokens))))
        features = tokens.transpose(1, 2).reshape(n, -1, gh, gw)
        out = F.interpolate(self.head(features), scale_factor=PATCH, mode="bilinear", align_corners=False)
        out = out + 1e-3 * x.mean(dim=1, keepdim=True)  # fails unless the sides are multiples of 14
        out = torch.sigmoid(out) * self.max_depth if self.max_depth is not None else F.relu(out) + 0.1
        return out[:, 0]


def export_tiny_vit(path: Path, seed: int = 0, max_depth: float | None = None,
                    metadata: Mapping[str, str] | None = None) -> Path:
    """Export a seeded ``TinyVit`` (dynamic batch/height/width, opset 17), with ``metadata`` as ONNX metadata_props."""
    torch.manual_seed(seed)
    model = TinyVit(max_depth=max_depth).eval()
    with torch.no_grad():
        torch.onnx.export(model, (torch.zeros(1, 3, 56, 70),), str(path), dynamo=False, opset_version=17,
                          input_names=["image"], output_names=["depth"],
                          dynamic_axes={"image": {0: "batch", 2: "height", 3: "width"},
                                        "depth": {0: "batch", 1: "height", 2: "width"}})
    return with_metadata(path, path, metadata or {})


def with_metadata(source: Path, target: Path, metadata: Mapping[str, str]) -> Path:
    """A copy of ``source`` at ``target`` whose metadata_props also hold ``metadata`` (what the exporter writes)."""
    return write_props(source, target, metadata)


def without_metadata(source: Path, target: Path) -> Path:
    """A copy of ``source`` with no metadata_props at all: an ONNX file from before models said what they are."""
    model = onnx.load(str(source))
    del model.metadata_props[:]
    onnx.save(model, str(target))
    return target


def metadata_of(path: Path) -> dict[str, str]:
    return {entry.key: entry.value for entry in onnx.load(str(path), load_external_data=False).metadata_props}
