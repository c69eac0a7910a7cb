"""MiDaS v2.1 small (``MidasNet_small``) written from the published architecture.

The module tree mirrors the original exactly so that the official checkpoint
(``midas_v21_small_256.pt``) loads with ``strict=True``: an EfficientNet-Lite3 encoder cut
into four stages under ``pretrained.layer1..4``, 3x3 "scratch" convolutions widening the
four skips to 64/128/256/512 channels, four RefineNet-style fusion blocks, and an output
head with a bilinear x2 upsample and a final ReLU (the output is non-negative relative
inverse depth).

Padding. The Lite3 backbone was trained in TensorFlow with "SAME" padding. For stride-1
convolutions that is plain symmetric padding. For the stride-2 convolutions it is
asymmetric, and the original's *exportable* layer (``Conv2dSameExport`` in
gen-efficientnet) computes the zero-padding once from the first input it sees and bakes it
into the graph. MiDaS only ever feeds sizes that are multiples of 32, so every stride-2
convolution sees an even input, and for an even input TF-SAME padding is independent of
the size: ``k - 2`` pixels in total, ``(k - 2) // 2`` before and the rest after (k=3 ->
0 before / 1 after, k=5 -> 1 / 2). ``TFSameStridedConv2d`` applies exactly that fixed
padding, which is what the original exports, and which also lets the ONNX graph keep
dynamic height and width. Callers must feed sides that are multiples of 32; the
preprocessing in ``stream.engines.base`` guarantees it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

BN_EPS_TF = 1e-3
NETWORK_MULTIPLE = 32

# EfficientNet-Lite3 stages after scaling (channel x1.2, depth x1.4, first/last stage
# repeats fixed): (block kind, repeats, kernel, stride, expansion, out channels).
LITE3_STAGES: tuple[tuple[str, int, int, int, int, int], ...] = (
    ("ds", 1, 3, 1, 1, 24),
    ("ir", 3, 3, 2, 6, 32),
    ("ir", 3, 5, 2, 6, 48),
    ("ir", 5, 3, 2, 6, 96),
    ("ir", 5, 5, 1, 6, 136),
    ("ir", 6, 5, 2, 6, 232),
    ("ir", 1, 3, 1, 6, 384),
)
STEM_CHANNELS = 32
ENCODER_CHANNELS = (32, 48, 136, 384)


class TFSameStridedConv2d(nn.Conv2d):
    """Stride-2 convolution with the fixed TF-"SAME" padding the original exports.

    Parameters are those of ``nn.Conv2d`` (so state_dict keys are ``weight`` and, if any,
    ``bias``); the padding is applied explicitly before a padding-free convolution.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 2,
                 groups: int = 1, bias: bool = False) -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride=stride, padding=0,
                         groups=groups, bias=bias)
        total = same_padding_total(kernel_size, stride)
        before = total // 2
        self.same_pad = (before, total - before, before, total - before)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(F.pad(x, self.same_pad))


def same_padding_total(kernel_size: int, stride: int, even_input: int = NETWORK_MULTIPLE) -> int:
    """TF-SAME total padding for an input whose size is a multiple of the stride."""
    out = math.ceil(even_input / stride)
    return max((out - 1) * stride + kernel_size - even_input, 0)


def conv_bn_tf(in_ch: int, out_ch: int, kernel: int, stride: int, groups: int = 1) -> nn.Conv2d:
    """A bias-free convolution with TF-SAME padding, as gen-efficientnet builds them."""
    if stride == 1:
        return nn.Conv2d(in_ch, out_ch, kernel, stride=1, padding=kernel // 2, groups=groups, bias=False)
    return TFSameStridedConv2d(in_ch, out_ch, kernel, stride=stride, groups=groups, bias=False)


def batch_norm(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=BN_EPS_TF)


class DepthwiseSeparable(nn.Module):
    """Lite's first block: depthwise conv, BN, ReLU6, pointwise conv, BN (no activation)."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int, stride: int) -> None:
        super().__init__()
        self.conv_dw = conv_bn_tf(in_ch, in_ch, kernel, stride, groups=in_ch)
        self.bn1 = batch_norm(in_ch)
        self.act1 = nn.ReLU6()
        self.conv_pw = nn.Conv2d(in_ch, out_ch, 1, bias=False)
        self.bn2 = batch_norm(out_ch)
        self.has_residual = stride == 1 and in_ch == out_ch

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.act1(self.bn1(self.conv_dw(x)))
        out = self.bn2(self.conv_pw(out))
        return out + x if self.has_residual else out


class InvertedResidual(nn.Module):
    """MobileNetV2 block: 1x1 expand, BN, ReLU6, depthwise, BN, ReLU6, 1x1 project, BN."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int, stride: int, expansion: int) -> None:
        super().__init__()
        mid = in_ch * expansion
        self.conv_pw = nn.Conv2d(in_ch, mid, 1, bias=False)
        self.bn1 = batch_norm(mid)
        self.act1 = nn.ReLU6()
        self.conv_dw = conv_bn_tf(mid, mid, kernel, stride, groups=mid)
        self.bn2 = batch_norm(mid)
        self.act2 = nn.ReLU6()
        self.conv_pwl = nn.Conv2d(mid, out_ch, 1, bias=False)
        self.bn3 = batch_norm(out_ch)
        self.has_residual = stride == 1 and in_ch == out_ch

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.act1(self.bn1(self.conv_pw(x)))
        out = self.act2(self.bn2(self.conv_dw(out)))
        out = self.bn3(self.conv_pwl(out))
        return out + x if self.has_residual else out


def build_lite3_stages() -> list[nn.Sequential]:
    """The seven block stages of EfficientNet-Lite3, each an ``nn.Sequential`` of blocks."""
    stages: list[nn.Sequential] = []
    in_ch = STEM_CHANNELS
    for kind, repeats, kernel, stride, expansion, out_ch in LITE3_STAGES:
        blocks: list[nn.Module] = []
        for i in range(repeats):
            block_stride = stride if i == 0 else 1
            if kind == "ds":
                blocks.append(DepthwiseSeparable(in_ch, out_ch, kernel, block_stride))
            else:
                blocks.append(InvertedResidual(in_ch, out_ch, kernel, block_stride, expansion))
            in_ch = out_ch
        stages.append(nn.Sequential(*blocks))
    return stages


class Lite3Encoder(nn.Module):
    """The backbone as MiDaS slices it: stem + stages 0-1, stage 2, stages 3-4, stages 5-6."""

    def __init__(self) -> None:
        super().__init__()
        stages = build_lite3_stages()
        stem = TFSameStridedConv2d(3, STEM_CHANNELS, 3, stride=2, bias=False)
        self.layer1 = nn.Sequential(stem, batch_norm(STEM_CHANNELS), nn.ReLU6(), *stages[0:2])
        self.layer2 = nn.Sequential(*stages[2:3])
        self.layer3 = nn.Sequential(*stages[3:5])
        self.layer4 = nn.Sequential(*stages[5:7])


class ResidualConvUnit(nn.Module):
    """ReLU -> 3x3 conv -> ReLU -> 3x3 conv, plus the input."""

    def __init__(self, features: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(features, features, 3, padding=1, bias=True)
        self.conv2 = nn.Conv2d(features, features, 3, padding=1, bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv2(F.relu(self.conv1(F.relu(x))))
        return out + x


class FeatureFusionBlock(nn.Module):
    """Fuse the coarser path with a skip, upsample (bilinear, align_corners=True), project.

    MiDaS upsamples x2; the DPT head of Depth Anything passes the next skip's ``size``
    instead (its patch grids need not halve evenly).
    """

    def __init__(self, features: int, expand: bool) -> None:
        super().__init__()
        out_features = features // 2 if expand else features
        self.out_conv = nn.Conv2d(features, out_features, 1, bias=True)
        self.resConfUnit1 = ResidualConvUnit(features)
        self.resConfUnit2 = ResidualConvUnit(features)

    def forward(self, path: torch.Tensor, skip: torch.Tensor | None = None, size: Sequence[int] | None = None) -> torch.Tensor:
        if skip is not None:
            path = path + self.resConfUnit1(skip)
        path = self.resConfUnit2(path)
        if size is None:
            path = F.interpolate(path, scale_factor=2.0, mode="bilinear", align_corners=True)
        else:
            path = F.interpolate(path, size=tuple(size), mode="bilinear", align_corners=True)
        return self.out_conv(path)


class Upsample2x(nn.Module):
    """Bilinear x2 (align_corners=False), parameter-free; keeps the head's Sequential indices."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False)


class Scratch(nn.Module):
    """The decoder: skip projections, fusion blocks and the output head."""

    def __init__(self, features: int = 64) -> None:
        super().__init__()
        widths = (features, features * 2, features * 4, features * 8)
        self.layer1_rn = nn.Conv2d(ENCODER_CHANNELS[0], widths[0], 3, padding=1, bias=False)
        self.layer2_rn = nn.Conv2d(ENCODER_CHANNELS[1], widths[1], 3, padding=1, bias=False)
        self.layer3_rn = nn.Conv2d(ENCODER_CHANNELS[2], widths[2], 3, padding=1, bias=False)
        self.layer4_rn = nn.Conv2d(ENCODER_CHANNELS[3], widths[3], 3, padding=1, bias=False)
        self.refinenet4 = FeatureFusionBlock(widths[3], expand=True)
        self.refinenet3 = FeatureFusionBlock(widths[2], expand=True)
        self.refinenet2 = FeatureFusionBlock(widths[1], expand=True)
        self.refinenet1 = FeatureFusionBlock(widths[0], expand=False)
        self.output_conv = nn.Sequential(
            nn.Conv2d(features, features // 2, 3, padding=1),
            Upsample2x(),
            nn.Conv2d(features // 2, 32, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(32, 1, 1),
            nn.ReLU(),
        )


class MidasSmall(nn.Module):
    """MiDaS v2.1 small: N x 3 x H x W normalised RGB -> N x H x W relative inverse depth."""

    def __init__(self, features: int = 64) -> None:
        super().__init__()
        self.pretrained = Lite3Encoder()
        self.scratch = Scratch(features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        enc, dec = self.pretrained, self.scratch
        layer1 = enc.layer1(x)
        layer2 = enc.layer2(layer1)
        layer3 = enc.layer3(layer2)
        layer4 = enc.layer4(layer3)
        path = dec.refinenet4(dec.layer4_rn(layer4))
        path = dec.refinenet3(path, dec.layer3_rn(layer3))
        path = dec.refinenet2(path, dec.layer2_rn(layer2))
        path = dec.refinenet1(path, dec.layer1_rn(layer1))
        return dec.output_conv(path).squeeze(1)


def build_midas_small() -> MidasSmall:
    """The one constructor: the real architecture, randomly initialised, in eval mode.

    Load weights with ``stream.model.load_weights``; random weights are for tests and
    benchmarks only.
    """
    return MidasSmall().eval()
