"""Reading a checkpoint file into a state dict, safely, with one-line errors naming the file.

Its own module because both the loader (``checkpoint``) and the download check (``weights``,
which strictly loads a new file before caching it) read checkpoints; torch is imported only
when a file is actually read.
"""

from __future__ import annotations

from pathlib import Path

from stream.core.errors import ModelError
from stream.core.filekind import special_kind


def read_state_dict(path: Path, source: str | None = None):
    """A state dict from a ``.pt``/``.pth`` file: plain, or wrapped under "model" / "state_dict".

    ``source``: what messages call the file (a URL for a download still under its temporary name).
    """
    import torch

    path = Path(path)
    label = source or str(path)
    kind = special_kind(path)
    if kind is not None:
        raise ModelError(f"--weights {path} is {kind}; pass a .pt checkpoint file or omit it to download the official weights")
    if not path.is_file():
        raise ModelError(f"weights file not found: {path}; pass --weights with an existing .pt file or omit it to download the official weights")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - a damaged pickle can fail in any way (KeyError, IndexError, struct.error, ...)
        text = str(exc)
        if "Weights only load failed" in text:
            reason = "it pickles Python objects other than tensors, which are not loaded for safety"
        else:
            reason = text.splitlines()[0][:120] if text else type(exc).__name__
        raise ModelError(f"{label} is not a readable PyTorch checkpoint ({reason}); re-download it or pass another --weights file") from None
    if isinstance(data, dict):
        for key in ("model", "state_dict"):
            if key in data and isinstance(data[key], dict):
                data = data[key]
                break
    if not isinstance(data, dict) or not data:
        raise ModelError(f"{label} does not hold a state dict; pass the model's .pt/.pth checkpoint")
    if all(isinstance(k, str) and k.startswith("module.") for k in data):
        data = {k.removeprefix("module."): v for k, v in data.items()}
    bad = next((k for k, v in data.items() if not isinstance(v, torch.Tensor)), None)
    if bad is not None:
        raise ModelError(f"{label}: entry {bad!r} is not a tensor; pass the model's .pt/.pth checkpoint")
    return data
