"""ONNX export of a torch network, cached so it happens once per model and weights file.

The cache key is the model's name, the weights' SHA-256 and everything that changes the
exported graph (opset, exporter, torch version, names), so new weights or a new exporter
give a new file and an old file is never reused by mistake. Every exported file carries
the model's ``ModelInfo`` in its ONNX metadata (``stream.core.modelinfo``), so an engine
given only the file knows the model's name, output unit and input conventions.
"""

from __future__ import annotations

import hashlib
import json
import logging
import warnings
from importlib.metadata import version
from pathlib import Path
from typing import TYPE_CHECKING

from stream.core.modelinfo import MIDAS_SMALL, ModelInfo
from stream.core.staging import writing
from stream.engines.metadata import write_props
from stream.model.registry import DEFAULT_MODEL, MODELS

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
    "format": 2,  # 2: files carry ModelInfo metadata
}


def trace_shape(info: ModelInfo) -> tuple[int, int, int, int]:
    """The example input the graph is traced with: one square frame of the model's default size.

    Any size works (height and width stay dynamic); it must be a multiple of the model's
    input multiple, as every real input is (256 for MiDaS, 252 for a ViT/14).
    """
    side = max(info.multiple, info.net_size // info.multiple * info.multiple)
    return (1, 3, side, side)


def export_settings_key() -> str:
    """Short hash of the exporter settings, part of every cached file name."""
    blob = json.dumps(EXPORT_SETTINGS, sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()[:10]


def cached_onnx_name(weights_sha256: str, name: str = DEFAULT_MODEL) -> str:
    """``<model name>-<weights sha16>-<settings key>.onnx``."""
    return f"{name}-{weights_sha256[:16]}-{export_settings_key()}.onnx"


def export_onnx(model: nn.Module, path: Path, info: ModelInfo = MIDAS_SMALL) -> Path:
    """Export with dynamic batch/height/width and ``info`` in the metadata, to a temp file renamed into place."""
    import torch

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    model = model.eval()
    with writing(path) as tmp_name:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                model,
                (torch.zeros(trace_shape(info)),),
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
        write_props(Path(tmp_name), Path(tmp_name), info.metadata())
    return path


def onnx_for_weights(weights_path: Path, cache_dir: Path, sha256: str | None = None, name: str = DEFAULT_MODEL) -> Path:
    """The cached ONNX file of model ``name`` with a checkpoint's weights, exporting it only if not cached yet.

    ``sha256``: the checkpoint's digest when the caller has just verified it (published or
    pinned), so a ~100 MB file is not hashed twice on every start.
    """
    from stream.core.cache import sha256_of

    weights_path = Path(weights_path)
    if not weights_path.is_file():
        from stream.core.errors import ModelError
        from stream.core.filekind import special_kind

        kind = special_kind(weights_path)  # a folder, a pipe, a device: said as such (and a pipe never opened)
        if kind is not None:
            raise ModelError(f"--weights {weights_path} is {kind}; pass a .pt checkpoint file")
        raise ModelError(f"weights file not found: {weights_path}; pass --weights with an existing .pt file")
    target = Path(cache_dir) / cached_onnx_name(sha256 or sha256_of(weights_path), name)
    if target.is_file():
        return target
    from stream.model.checkpoint import network_from_file  # torch is imported only to export

    log.info("exporting %s (%s) to ONNX (once; cached at %s)", weights_path, name, target)
    return export_onnx(network_from_file(weights_path, name), target, MODELS.get(name).info)
