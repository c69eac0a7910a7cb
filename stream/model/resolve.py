"""Which ONNX file to run, from the user's --model / --model-name / --weights / --precision choices.

Order: an explicit ``--model`` ONNX file is used as is (torch is never imported);
otherwise ``--weights`` or the model's official checkpoint (downloaded and verified once)
is exported to ONNX once and cached, per model. ``int8`` derives a statically quantised
copy, also cached. Nothing here ever substitutes random weights.
"""

from __future__ import annotations

from pathlib import Path

from stream.core.errors import ModelError
from stream.core.filekind import special_kind
from stream.model.registry import DEFAULT_MODEL


def resolve_model(
    onnx: Path | None,
    weights: Path | None,
    cache_dir: Path | None,
    precision: str = "fp32",
    progress: bool = True,
    name: str = DEFAULT_MODEL,
    sha256: str | None = None,
) -> Path:
    """Path of the ONNX model to load for these settings, building cached files if needed.

    ``name``: the registered model (``--model-name``) the weights are for; ``sha256``: the
    user's pin of the downloaded checkpoint (``model.sha256``; a local ``--weights`` file
    is the user's own and is not checked against it).
    """
    from stream.core.cache import default_cache_dir

    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    if onnx is not None:
        model = Path(onnx)
        kind = special_kind(model)  # a folder, a pipe, a device: said as such (and a pipe never opened)
        if kind is not None:
            raise ModelError(f"--model {model} is {kind}; pass an .onnx model file, or omit it to use --model-name's "
                             "official weights")
        if not model.is_file():
            raise ModelError(f"model file not found: {model}; check --model, or omit it to use --model-name's official weights")
    else:
        from stream.model.export import onnx_for_weights

        if weights is not None:
            model = onnx_for_weights(Path(weights), cache, name=name)
        else:
            from stream.model import weights as official
            from stream.model.registry import MODELS

            checkpoint = official.ensure_weights(name, cache, progress=progress, sha256=sha256)
            model = onnx_for_weights(checkpoint, cache, sha256=sha256.lower() if sha256 else MODELS.get(name).sha256, name=name)
    from stream.engines.quantize import model_for_precision

    return model_for_precision(model, precision, cache)


def check_model_name(onnx: Path | None, name: str | None, held: str) -> None:
    """``--model FILE`` whose own metadata names another model than ``--model-name`` is a mistake, said once."""
    if onnx is not None and name is not None and held != name:
        raise ModelError(f"--model {onnx} holds {held}, not the {name} that --model-name asks for; "
                         "drop --model-name (the file says which model it is) or pass the matching file")
