"""ONNX export of the torch network, cached so it happens once per weights file.

The cache key is the weights' SHA-256 plus everything that changes the exported graph
(opset, exporter, torch version, names), so new weights or a new exporter give a new file
and an old file is never reused by mistake.
"""

from __future__ import annotations

import hashlib
import json
import logging
import warnings
from importlib.metadata import version
from pathlib import Path
from typing import TYPE_CHECKING

from stream.core.staging import writing

if TYPE_CHECKING:
    from torch import nn

log = logging.getLogger(__name__)

INPUT_NAME = "image"
OUTPUT_NAME = "depth"
OPSET = 17
EXPORT_SETTINGS = {
    "opset": OPSET,
    "exporter": "torchscript",
    "input": INPUT_NAME,
    "output": OUTPUT_NAME,
    "dynamic": ["batch", "height", "width"],
    "torch": version("torch"),  # read without importing torch: a cached run never loads it
    "format": 1,
}
TRACE_SHAPE = (1, 3, 256, 256)


def export_settings_key() -> str:
    """Short hash of the exporter settings, part of every cached file name."""
    blob = json.dumps(EXPORT_SETTINGS, sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()[:10]


def cached_onnx_name(weights_sha256: str) -> str:
    return f"midas_v21_small_256-{weights_sha256[:16]}-{export_settings_key()}.onnx"


def export_onnx(model: nn.Module, path: Path) -> Path:
    """Export with dynamic batch/height/width, writing to a temp file renamed into place."""
    import torch

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    model = model.eval()
    with writing(path) as tmp_name, warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model,
            (torch.zeros(TRACE_SHAPE),),
            tmp_name,
            dynamo=False,
            opset_version=OPSET,
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME],
            dynamic_axes={
                INPUT_NAME: {0: "batch", 2: "height", 3: "width"},
                OUTPUT_NAME: {0: "batch", 1: "height", 2: "width"},
            },
            do_constant_folding=True,
        )
    return path


def onnx_for_weights(weights_path: Path, cache_dir: Path, sha256: str | None = None) -> Path:
    """The cached ONNX file for a ``.pt`` checkpoint, exporting it only if not cached yet.

    ``sha256``: the checkpoint's digest when the caller has just verified it (the official
    weights), so an 85 MB file is not hashed twice on every start.
    """
    from stream.core.cache import sha256_of

    weights_path = Path(weights_path)
    if not weights_path.is_file():
        from stream.core.errors import ModelError

        raise ModelError(f"weights file not found: {weights_path}; pass --weights with an existing .pt file")
    target = Path(cache_dir) / cached_onnx_name(sha256 or sha256_of(weights_path))
    if target.is_file():
        return target
    from stream.model.checkpoint import network_from_file  # torch is imported only to export

    log.info("exporting %s to ONNX (once; cached at %s)", weights_path, target)
    return export_onnx(network_from_file(weights_path), target)
