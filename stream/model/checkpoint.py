"""Putting weights into the network: strict, with errors that name the offending tensor.

Random weights live here too because tests and the benchmark need the *real* architecture
with outputs that look like a depth map; they are produced as an ordinary state dict and
go through the same loader, export and cache as the official weights. No user path falls
back to them.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import torch
from torch import nn

from stream.core.errors import ModelError
from stream.model.network import MidasSmall, build_midas_small


def check_state_dict(model: nn.Module, state_dict: Mapping[str, torch.Tensor], source: str) -> None:
    """Raise ``ModelError`` naming the first missing, unexpected or misshapen tensor."""
    expected = model.state_dict()
    for name, tensor in expected.items():
        if name not in state_dict:
            raise ModelError(
                f"{source}: tensor {name!r} is missing; this is not a MiDaS v2.1 small "
                "checkpoint (use midas_v21_small_256.pt or omit --weights to download it)"
            )
        got = state_dict[name]
        if not isinstance(got, torch.Tensor):
            raise ModelError(f"{source}: entry {name!r} is not a tensor; the checkpoint is corrupt, re-download it")
        if tuple(got.shape) != tuple(tensor.shape):
            raise ModelError(
                f"{source}: tensor {name!r} has shape {tuple(got.shape)}, expected "
                f"{tuple(tensor.shape)}; use the midas_v21_small_256.pt checkpoint"
            )
    unexpected = [name for name in state_dict if name not in expected]
    if unexpected:
        raise ModelError(
            f"{source}: unexpected tensor {unexpected[0]!r} ({len(unexpected)} extra); "
            "this is not a MiDaS v2.1 small checkpoint"
        )


def load_weights(model: nn.Module, state_dict: Mapping[str, torch.Tensor], source: str) -> nn.Module:
    """Check, then load with ``strict=True``; the model is returned in eval mode."""
    check_state_dict(model, state_dict, source)
    model.load_state_dict(dict(state_dict), strict=True)
    return model.eval()


def network_from_file(path: Path) -> MidasSmall:
    """Build the network and load a ``.pt`` checkpoint into it (plain or wrapped state dict)."""
    from stream.model.weights import read_state_dict

    model = build_midas_small()
    load_weights(model, read_state_dict(Path(path)), str(path))
    return model


def calibration_batch(seed: int, height: int = 128, width: int = 128) -> torch.Tensor:
    """Fixed smooth pseudo-images (upsampled coarse noise), roughly as normalised frames look."""
    generator = torch.Generator().manual_seed(seed)
    coarse = torch.randn(4, 3, height // 16, width // 16, generator=generator)
    return torch.nn.functional.interpolate(coarse, size=(height, width), mode="bilinear", align_corners=False)


@torch.no_grad()
def random_network(seed: int) -> MidasSmall:
    """The real architecture with seeded random weights whose output has depth-like structure.

    PyTorch's default initialisation makes this deep network's activations vanish, and the
    final ReLU then zeroes almost every pixel, which would make comparisons meaningless. So
    every convolution is rescaled, in forward order, to give unit-variance output on a fixed
    calibration input (data-dependent init, as in LSUV), and the head's bias is set so that
    almost all of the calibration map is positive.
    """
    torch.manual_seed(seed)
    model = build_midas_small()

    def normalise(module: nn.Conv2d, _inputs: tuple, output: torch.Tensor) -> torch.Tensor:
        scale = output.std().clamp_min(1e-6)
        module.weight.div_(scale)
        if module.bias is not None:
            module.bias.div_(scale)
        return output / scale

    hooks = [m.register_forward_hook(normalise) for m in model.modules() if isinstance(m, nn.Conv2d)]
    batch = calibration_batch(seed)
    try:
        model(batch)
    finally:
        for hook in hooks:
            hook.remove()
    head = model.scratch.output_conv[4]
    assert isinstance(head, nn.Conv2d) and head.bias is not None
    features: dict[str, torch.Tensor] = {}
    capture = head.register_forward_hook(lambda _m, _i, out: features.setdefault("out", out))
    try:
        model(batch)
    finally:
        capture.remove()
    head.bias.sub_(torch.quantile(features["out"].flatten(), 0.01) - 0.5)
    return model.eval()


def save_random_checkpoint(path: Path, seed: int) -> Path:
    """Write a random-weights checkpoint in the official format (a plain state dict)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(random_network(seed).state_dict(), path)
    return path
