"""Which ONNX file to run, from the user's --model / --weights / --precision choices.

Order: an explicit ``--model`` ONNX file is used as is (torch is never imported);
otherwise ``--weights`` or the official checkpoint (downloaded and verified once) is
exported to ONNX once and cached. ``int8`` derives a statically quantised copy, also
cached. Nothing here ever substitutes random weights.
"""

from __future__ import annotations

from pathlib import Path

from stream.core.errors import ModelError


def resolve_model(
    onnx: Path | None,
    weights: Path | None,
    cache_dir: Path | None,
    precision: str = "fp32",
    progress: bool = True,
) -> Path:
    """Path of the ONNX model to load for these settings, building cached files if needed."""
    from stream.model.weights import OFFICIAL_SHA256, default_cache_dir, ensure_official_weights

    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    if onnx is not None:
        model = Path(onnx)
        if not model.is_file():
            raise ModelError(f"model file not found: {model}; check --model or omit it to use MiDaS v2.1 small")
    else:
        from stream.model.export import onnx_for_weights

        if weights is not None:
            model = onnx_for_weights(Path(weights), cache)
        else:
            model = onnx_for_weights(ensure_official_weights(cache, progress=progress), cache, sha256=OFFICIAL_SHA256)
    from stream.engines.quantize import model_for_precision

    return model_for_precision(model, precision, cache)
