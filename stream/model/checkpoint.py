"""Putting weights into a network: strict, with errors that name the offending tensor or the wrong model.

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
from stream.model.identify import check_kind
from stream.model.registry import DEFAULT_MODEL, MODELS, build_network
from stream.model.state_file import read_state_dict


def check_state_dict(model: nn.Module, state_dict: Mapping[str, torch.Tensor], source: str, name: str | None = None) -> None:
    """Raise ``ModelError``: a checkpoint of another model (when ``name`` is given), else the first
    missing, unexpected or misshapen tensor."""
    if name is not None:
        check_kind(state_dict, name, source)
    spec = MODELS.get(name or DEFAULT_MODEL)
    fix = f"use {spec.filename} or omit --weights to download it"
    expected = model.state_dict()
    for key, tensor in expected.items():
        if key not in state_dict:
            raise ModelError(f"{source}: tensor {key!r} is missing; this is not a {spec.title} checkpoint ({fix})")
        got = state_dict[key]
        if not isinstance(got, torch.Tensor):
            raise ModelError(f"{source}: entry {key!r} is not a tensor; the checkpoint is corrupt, re-download it")
        if tuple(got.shape) != tuple(tensor.shape):
            raise ModelError(f"{source}: tensor {key!r} has shape {tuple(got.shape)}, expected {tuple(tensor.shape)}; {fix}")
    unexpected = [key for key in state_dict if key not in expected]
    if unexpected:
        raise ModelError(f"{source}: unexpected tensor {unexpected[0]!r} ({len(unexpected)} extra); this is not a {spec.title} checkpoint")


def load_weights(model: nn.Module, state_dict: Mapping[str, torch.Tensor], source: str, name: str | None = None) -> nn.Module:
    """Check (against model ``name`` too, when given), then load with ``strict=True``; returned in eval mode."""
    check_state_dict(model, state_dict, source, name)
    model.load_state_dict(dict(state_dict), strict=True)
    return model.eval()


def network_from_file(path: Path, name: str = DEFAULT_MODEL) -> nn.Module:
    """Build model ``name``'s network and load a checkpoint into it (plain or wrapped state dict)."""
    model = build_network(name)
    load_weights(model, read_state_dict(Path(path)), str(path), name)
    return model


def check_checkpoint_file(path: Path, name: str, source: str | None = None) -> None:
    """Raise ``ModelError`` unless the file would load strictly into model ``name`` (messages call it ``source``)."""
    label = source or str(path)
    check_state_dict(build_network(name), read_state_dict(Path(path), label), label, name)


def calibration_batch(seed: int, height: int = 128, width: int = 128) -> torch.Tensor:
    """Fixed smooth pseudo-images (upsampled coarse noise), roughly as normalised frames look."""
    generator = torch.Generator().manual_seed(seed)
    coarse = torch.randn(4, 3, height // 16, width // 16, generator=generator)
    return torch.nn.functional.interpolate(coarse, size=(height, width), mode="bilinear", align_corners=False)


@torch.no_grad()
def random_network(seed: int, name: str = DEFAULT_MODEL) -> nn.Module:
    """Model ``name``'s real architecture with seeded random weights whose output has depth-like structure.

    PyTorch's default initialisation makes these deep networks' activations vanish, and a
    final ReLU then zeroes almost every pixel (a final sigmoid saturates), which would make
    comparisons meaningless. So every convolution is rescaled, in forward order, to give
    unit-variance output on a fixed calibration input (data-dependent init, as in LSUV),
    and the last convolution's bias is set so the output is spread out: almost all of the
    calibration map positive for a relative model (its ReLU keeps it), centred on half the
    range for a metric one (its sigmoid x max_depth then spans metres, not 0 or max_depth).
    """
    torch.manual_seed(seed)
    model = build_network(name)
    info = MODELS.get(name).info
    side = info.multiple * max(1, 128 // info.multiple)  # 128 for MiDaS, 126 for a ViT/14
    batch = calibration_batch(seed, side, side)
    normalise_convolutions(model, batch)
    head = last_convolution(model)
    assert head.bias is not None
    out = outputs_of(head, model, batch).flatten()
    shift = out.median() if info.is_metric else torch.quantile(out, 0.01) - 0.5
    head.bias.sub_(shift)
    return model.eval()


def normalise_convolutions(model: nn.Module, batch: torch.Tensor) -> None:
    """Rescale each convolution (and transposed one) so its output on ``batch`` has unit variance."""

    def normalise(module: nn.Conv2d | nn.ConvTranspose2d, _inputs: tuple, output: torch.Tensor) -> torch.Tensor:
        scale = output.std().clamp_min(1e-6)
        module.weight.div_(scale)
        if module.bias is not None:
            module.bias.div_(scale)
        return output / scale

    kinds = (nn.Conv2d, nn.ConvTranspose2d)
    hooks = [m.register_forward_hook(normalise) for m in model.modules() if isinstance(m, kinds)]
    try:
        model(batch)
    finally:
        for hook in hooks:
            hook.remove()


def last_convolution(model: nn.Module) -> nn.Conv2d:
    """The convolution that makes the one-channel depth map (the last one in the module tree)."""
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d) and m.out_channels == 1]
    return convs[-1]


def outputs_of(module: nn.Module, model: nn.Module, batch: torch.Tensor) -> torch.Tensor:
    """What ``module`` outputs while ``model`` runs on ``batch``."""
    seen: list[torch.Tensor] = []
    hook = module.register_forward_hook(lambda _m, _i, out: seen.append(out))
    try:
        model(batch)
    finally:
        hook.remove()
    return seen[0]


def save_random_checkpoint(path: Path, seed: int, name: str = DEFAULT_MODEL) -> Path:
    """Write a random-weights checkpoint of model ``name`` in the official format (a plain state dict)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(random_network(seed, name).state_dict(), path)
    return path
