"""DINOv2 ViT-S/14, the encoder of Depth Anything V2 Small, in plain PyTorch.

Written from the published DINOv2 code (``dinov2/models/vision_transformer.py`` as vendored
by Depth-Anything-V2) with the same module names, so the official checkpoint's
``pretrained.*`` tensors load with ``strict=True``: ``cls_token``, ``pos_embed`` (one class
position plus 37 x 37 patch positions, trained at 518 x 518), ``mask_token`` (kept only so the
checkpoint loads; inference never masks), ``patch_embed.proj``, ``blocks.N`` (pre-norm
attention and MLP, each scaled by a LayerScale ``gamma``) and the final ``norm``. No
xformers, no hub code: attention is the plain softmax(q k^T / sqrt(d)) v, which exports to
ONNX as ordinary MatMul/Softmax.

Position embeddings for other input sizes. Like the original, the 37 x 37 grid is resized
bicubically to the input's patch grid with ``scale_factor = (grid + interpolate_offset) / 37``
(DINOv2's 0.1 offset, "to avoid floating point error in the interpolation"), and used
unchanged for a square input of exactly 37 x 37 patches. ``interpolate_offset=0`` gives the
plain resize to the grid's size that Hugging Face transformers uses. The resize goes
through ``stream.model.resample`` so an exported graph stays correct at every input size.
"""

from __future__ import annotations

import torch
from torch import nn

from stream.model.resample import cubic_matrix, resize_bicubic

PATCH = 14
GRID = 37  # the position-embedding grid: 518 / 14, the training size
LAYER_NORM_EPS = 1e-6
INTERPOLATE_OFFSET = 0.1  # DINOv2 (and Depth Anything V2) as published


class PatchEmbed(nn.Module):
    """Non-overlapping 14 x 14 patches -> ``dim``-wide tokens (N x patches x dim)."""

    def __init__(self, dim: int, patch: int = PATCH) -> None:
        super().__init__()
        self.proj = nn.Conv2d(3, dim, kernel_size=patch, stride=patch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x).flatten(2).transpose(1, 2)


class Attention(nn.Module):
    """Multi-head self-attention with one fused ``qkv`` projection, as the checkpoint stores it."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.scale = (dim // heads) ** -0.5
        self.qkv = nn.Linear(dim, dim * 3, bias=True)
        self.proj = nn.Linear(dim, dim, bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        qkv = self.qkv(x).unflatten(-1, (3, self.heads, -1)).permute(2, 0, 3, 1, 4)  # 3 x N x heads x tokens x d
        q, k, v = qkv[0] * self.scale, qkv[1], qkv[2]
        attn = torch.matmul(q, k.transpose(-2, -1)).softmax(dim=-1)
        out = torch.matmul(attn, v).transpose(1, 2).flatten(2)
        return self.proj(out)


class Mlp(nn.Module):
    """fc1 -> GELU (exact) -> fc2, four times wider inside."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class LayerScale(nn.Module):
    """A learned per-channel factor on each residual branch (``gamma``, 1.0 before training)."""

    def __init__(self, dim: int, init: float = 1.0) -> None:
        super().__init__()
        self.gamma = nn.Parameter(torch.full((dim,), init))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gamma


class Block(nn.Module):
    """Pre-norm transformer block: x + ls1(attn(norm1 x)), then x + ls2(mlp(norm2 x))."""

    def __init__(self, dim: int, heads: int, mlp_ratio: int = 4) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=LAYER_NORM_EPS)
        self.attn = Attention(dim, heads)
        self.ls1 = LayerScale(dim)
        self.norm2 = nn.LayerNorm(dim, eps=LAYER_NORM_EPS)
        self.mlp = Mlp(dim, dim * mlp_ratio)
        self.ls2 = LayerScale(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.ls1(self.attn(self.norm1(x)))
        return x + self.ls2(self.mlp(self.norm2(x)))


class VisionTransformer(nn.Module):
    """DINOv2 ViT (ViT-S/14 by default: 384 wide, 12 blocks, 6 heads), returning chosen blocks' tokens."""

    def __init__(self, dim: int = 384, depth: int = 12, heads: int = 6, grid: int = GRID,
                 interpolate_offset: float = INTERPOLATE_OFFSET) -> None:
        super().__init__()
        self.dim = dim
        self.grid = grid
        self.interpolate_offset = interpolate_offset
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, grid * grid + 1, dim))
        self.mask_token = nn.Parameter(torch.zeros(1, dim))
        self.patch_embed = PatchEmbed(dim)
        self.blocks = nn.ModuleList([Block(dim, heads) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim, eps=LAYER_NORM_EPS)
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        nn.init.normal_(self.cls_token, std=1e-6)

    def position_embedding(self, height: int | torch.Tensor, width: int | torch.Tensor) -> torch.Tensor:
        """1 x (1 + rows*cols) x dim position embeddings for an input of ``height`` x ``width`` pixels.

        ``height``/``width`` may be traced sizes: every step is tensor arithmetic, never a
        Python number taken from a shape, so the exported graph follows the input.
        """
        height, width = as_size(height), as_size(width)
        rows, cols = height // PATCH, width // PATCH
        same = (rows == self.grid) & (cols == self.grid) & (height == width)
        no_offset = torch.zeros((), dtype=torch.float64)
        offset = torch.where(same, no_offset, no_offset + self.interpolate_offset)  # 0 at the grid's own size: identity
        row_weights = cubic_matrix(rows, self.grid, self.grid / (rows.to(torch.float64) + offset))
        col_weights = cubic_matrix(cols, self.grid, self.grid / (cols.to(torch.float64) + offset))
        patches = self.pos_embed[0, 1:].unflatten(0, (self.grid, self.grid))  # 37 x 37 x dim
        resized = resize_bicubic(patches, row_weights, col_weights).flatten(0, 1)
        return torch.cat((self.pos_embed[:, :1], resized.unsqueeze(0)), dim=1)

    def tokens(self, x: torch.Tensor) -> torch.Tensor:
        """Patch tokens with the class token in front, position embeddings added."""
        patches = self.patch_embed(x)
        cls = self.cls_token.expand(patches.shape[0], -1, -1)
        return torch.cat((cls, patches), dim=1) + self.position_embedding(x.shape[-2], x.shape[-1])

    def intermediate_layers(self, x: torch.Tensor, layers: tuple[int, ...]) -> list[torch.Tensor]:
        """The final-normed patch tokens (class token dropped) after each block in ``layers``."""
        out: list[torch.Tensor] = []
        hidden = self.tokens(x)
        for index, block in enumerate(self.blocks):
            hidden = block(hidden)
            if index in layers:
                out.append(self.norm(hidden)[:, 1:])
        return out


def vit_small(interpolate_offset: float = INTERPOLATE_OFFSET) -> VisionTransformer:
    """ViT-S/14 as Depth Anything V2 Small uses it (patch 14, 384 wide, 12 blocks, 6 heads)."""
    return VisionTransformer(dim=384, depth=12, heads=6, interpolate_offset=interpolate_offset)



def as_size(value: int | torch.Tensor) -> torch.Tensor:
    """A size as a 0-d int64 tensor; a traced size (already a tensor) passes through, keeping the graph dynamic.

    Not ``torch.as_tensor``: the tracer records its result as a constant.
    """
    return value if isinstance(value, torch.Tensor) else torch.tensor(value, dtype=torch.int64)
