"""Depth engines behind one interface (``BaseEstimator``): ONNX Runtime and OpenVINO, and any registered.

``ENGINES`` (``registry``) names each engine and the precisions it runs; ``make_engine``
builds one engine at one precision; ``stream.engines.choose`` picks which one (``auto``) by
measuring each registered candidate once per model, CPU and library versions.
"""

from __future__ import annotations

from pathlib import Path

from stream.core.errors import ModelError
from stream.engines.base import BaseEstimator
from stream.engines.onnxruntime import SPIN
from stream.engines.registry import ENGINES, Engine, engine_choices, precision_choices


def check_choice(engine: str, precision: str) -> None:
    """Refuse an engine x precision that cannot run here, before a source opens or a model loads."""
    if engine != "auto":
        if engine not in ENGINES:
            raise ModelError(f"unknown engine {engine!r}; use one of {', '.join(engine_choices())}")
        own = ENGINES.get(engine).precisions
        if precision != "auto" and precision not in own:
            others = [entry.name for entry in ENGINES if precision in entry.precisions]
            instead = f"use --engine {others[0]} (or auto), or " if others else "use "
            where = f"runs on {' and '.join(others)} only, not {engine}" if others else f"is not one of {engine}'s"
            raise ModelError(f"--precision {precision} {where}; {instead}--precision {'/'.join(own)}")
    if precision != "bf16":
        return
    from stream.engines.openvino import has_bf16

    if not has_bf16():
        raise ModelError("--precision bf16 needs a CPU with native bfloat16 (AVX-512 BF16 or AMX), which this one "
                         "lacks; use --precision fp32, int8 or auto")


def make_engine(model: Path, engine: str, precision: str, threads: int = 0, net_size: int | None = None,
                cache_dir: Path | None = None, spin: bool = SPIN) -> BaseEstimator:
    """An engine running the fp32 ONNX file ``model`` at ``precision`` (int8 uses its cached QDQ copy).

    ``net_size`` bounds the network input's long side; None takes the model's own default
    (``info.net_size`` from its metadata: 256 for MiDaS and for a file without metadata).

    ONNX Runtime does not spin by default: at a 30 fps camera spinning cost up to 1.5x the CPU per
    depth frame for the same FPS, and with a fast source it was no faster on two cores (the bench
    measures both; OpenVINO does not busy-wait).
    """
    check_choice(engine, precision)
    entry = ENGINES.get(engine)
    from stream.core.cache import default_cache_dir
    from stream.engines.quantize import model_for_precision

    path = model_for_precision(model, precision, cache_dir if cache_dir is not None else default_cache_dir())
    return entry.make(path, threads, net_size, precision, cache_dir, spin)


__all__ = ["ENGINES", "BaseEstimator", "Engine", "check_choice", "engine_choices", "make_engine", "precision_choices"]
