"""Bicubic resampling written as two small matrices, so an exported graph keeps its sizes dynamic.

DINOv2 resizes its learned 37 x 37 position embeddings to each input's patch grid with
``F.interpolate(mode="bicubic")``. Traced for ONNX, that call bakes the trace-time output size
and scale into the graph, so a model traced at 252 x 252 would be wrong (or fail) at any
other size. Bicubic resampling (align_corners=False) is separable: along each axis it is a
fixed ``out x in`` matrix of cubic-convolution weights. ``cubic_matrix`` builds that matrix
from the output size with plain tensor arithmetic, which traces into ordinary ONNX ops that
follow the input's shape; ``resize_bicubic`` applies one per axis. The weights are PyTorch's
own (A = -0.75, source index ``scale * (i + 0.5) - 0.5``, taps clamped at the border), so the
result equals ``F.interpolate`` to float rounding, in eager mode and in the exported graph.
"""

from __future__ import annotations

from typing import cast

import torch

CUBIC_A = -0.75  # PyTorch's (and OpenCV's) cubic-convolution constant


def _near(x: torch.Tensor) -> torch.Tensor:
    """Weight of a tap at distance |x| <= 1."""
    return ((CUBIC_A + 2) * x - (CUBIC_A + 3)) * x * x + 1


def _far(x: torch.Tensor) -> torch.Tensor:
    """Weight of a tap at distance 1 < |x| < 2."""
    return ((CUBIC_A * x - 5 * CUBIC_A) * x + 8 * CUBIC_A) * x - 4 * CUBIC_A


def cubic_matrix(out_size: torch.Tensor, in_size: int, scale: torch.Tensor) -> torch.Tensor:
    """``out_size x in_size`` weights: row i resamples a length-``in_size`` signal at output i.

    ``scale`` is input pixels per output pixel (``in_size / out_size`` for a plain resize;
    ``F.interpolate`` with a ``scale_factor`` uses ``1 / scale_factor`` instead). ``out_size``
    is a 0-d tensor (a traced size while exporting), which keeps the exported graph dynamic.
    """
    dst = torch.arange(cast(int, out_size)).to(torch.float32)  # arange takes a 0-d tensor too, and traces it
    src = scale.to(torch.float32) * (dst + 0.5) - 0.5
    first = torch.floor(src)
    t = (src - first).unsqueeze(1)
    base = first.to(torch.int64).unsqueeze(1)
    taps = (_far(t + 1), _near(t), _near(1 - t), _far(2 - t))
    columns = torch.arange(in_size).unsqueeze(0)
    weights = torch.zeros_like(t) * columns  # (out, in) zeros, shaped by tensors (not by Python ints)
    for k, tap in enumerate(taps):
        index = (base + (k - 1)).clamp(0, in_size - 1)
        weights = weights + tap * (index == columns).to(torch.float32)
    return weights


def resize_bicubic(grid: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
    """Resample ``grid`` (H x W x C, channels last) to rows x cols x C with the two matrices.

    Channels last and two plain matrix products: the channels-first form (``rows @ grid @
    cols.T`` over C x H x W) is over ten times slower on a CPU for the same result.
    """
    height, width, channels = grid.shape
    along_rows = torch.matmul(rows, grid.reshape(height, width * channels)).unflatten(1, (width, channels))
    return torch.matmul(cols, along_rows)
