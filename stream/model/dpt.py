"""The DPT head of Depth Anything V2: four ViT layers -> one depth map at the input's size.

Written from ``depth_anything_v2/dpt.py`` (``DPTHead`` with ``use_bn=False``,
``use_clstoken=False``) with the same module names, so the checkpoint's ``depth_head.*``
tensors load with ``strict=True``. Each of the four token maps is projected by a 1x1
convolution (``projects``) and brought to 4x, 2x, 1x and 1/2x the patch grid
(``resize_layers``: transposed convolutions, identity, a stride-2 convolution); the
``scratch`` then widens them to ``features`` channels and fuses them coarse to fine with
the same RefineNet blocks MiDaS uses (``stream.model.network``), each upsampled to the
next map's size. The output convolutions halve the channels, upsample to 14 x the patch
grid (the input size), and end in the final activation: ReLU for relative depth,
sigmoid for metric (the caller multiplies by the maximum depth).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F  # noqa: N812 - torch's own spelling
from torch import nn

from stream.model.network import FeatureFusionBlock

PATCH = 14
HEAD_HIDDEN = 32


class Scratch(nn.Module):
    """Skip projections to ``features`` channels, four fusion blocks, and the output convolutions."""

    def __init__(self, widths: tuple[int, int, int, int], features: int, final: nn.Module) -> None:
        super().__init__()
        self.layer1_rn = nn.Conv2d(widths[0], features, 3, padding=1, bias=False)
        self.layer2_rn = nn.Conv2d(widths[1], features, 3, padding=1, bias=False)
        self.layer3_rn = nn.Conv2d(widths[2], features, 3, padding=1, bias=False)
        self.layer4_rn = nn.Conv2d(widths[3], features, 3, padding=1, bias=False)
        self.refinenet1 = FeatureFusionBlock(features, expand=False)
        self.refinenet2 = FeatureFusionBlock(features, expand=False)
        self.refinenet3 = FeatureFusionBlock(features, expand=False)
        self.refinenet4 = FeatureFusionBlock(features, expand=False)
        self.output_conv1 = nn.Conv2d(features, features // 2, 3, padding=1)
        self.output_conv2 = nn.Sequential(
            nn.Conv2d(features // 2, HEAD_HIDDEN, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(HEAD_HIDDEN, 1, 1),
            final,
            nn.Identity(),
        )


class DPTHead(nn.Module):
    """Token maps of four ViT layers -> N x 1 x (14 rows) x (14 cols) depth (before any max_depth)."""

    def __init__(self, in_channels: int = 384, features: int = 64, widths: tuple[int, int, int, int] = (48, 96, 192, 384),
                 metric: bool = False) -> None:
        super().__init__()
        self.projects = nn.ModuleList([nn.Conv2d(in_channels, width, 1) for width in widths])
        self.resize_layers = nn.ModuleList([
            nn.ConvTranspose2d(widths[0], widths[0], kernel_size=4, stride=4),
            nn.ConvTranspose2d(widths[1], widths[1], kernel_size=2, stride=2),
            nn.Identity(),
            nn.Conv2d(widths[3], widths[3], kernel_size=3, stride=2, padding=1),
        ])
        self.scratch = Scratch(widths, features, nn.Sigmoid() if metric else nn.ReLU())

    def forward(self, tokens: list[torch.Tensor], rows: int, cols: int) -> torch.Tensor:
        """``rows`` x ``cols``: the patch grid (traced sizes while exporting, so the graph stays dynamic)."""
        maps = []
        for index, layer_tokens in enumerate(tokens):
            grid = layer_tokens.transpose(1, 2).unflatten(2, (rows, cols))  # N x dim x rows x cols
            maps.append(self.resize_layers[index](self.projects[index](grid)))
        s = self.scratch
        layer1, layer2, layer3, layer4 = s.layer1_rn(maps[0]), s.layer2_rn(maps[1]), s.layer3_rn(maps[2]), s.layer4_rn(maps[3])
        path = s.refinenet4(layer4, size=(rows, cols))  # the maps are 4, 2, 1 and 1/2 x the grid
        path = s.refinenet3(path, layer3, size=(2 * rows, 2 * cols))
        path = s.refinenet2(path, layer2, size=(4 * rows, 4 * cols))
        path = s.refinenet1(path, layer1)
        out = F.interpolate(s.output_conv1(path), size=(rows * PATCH, cols * PATCH), mode="bilinear", align_corners=True)
        return s.output_conv2(out)

