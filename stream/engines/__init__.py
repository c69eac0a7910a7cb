"""Depth engines behind one interface (``BaseEstimator``): ONNX Runtime and OpenVINO.

``make_engine`` builds one engine at one precision; ``stream.engines.choose`` picks which
one (``auto``) by measuring each candidate once per model, CPU and library versions.
"""

from __future__ import annotations

from pathlib import Path

from stream.core.errors import ModelError
from stream.engines.base import NET_SIZE, BaseEstimator
from stream.engines.onnxruntime import SPIN

ENGINES = ("onnxruntime", "openvino")
PRECISIONS = ("fp32", "bf16", "int8")


def check_choice(engine: str, precision: str) -> None:
    """Refuse an engine x precision that cannot run here, before a source opens or a model loads."""
    if precision != "bf16":
        return
    if engine not in ("openvino", "auto"):
        raise ModelError(f"--precision bf16 runs on OpenVINO only, not {engine}; use --engine openvino (or auto), "
                         "or --precision fp32/int8")
    from stream.engines.openvino import has_bf16

    if not has_bf16():
        raise ModelError("--precision bf16 needs a CPU with native bfloat16 (AVX-512 BF16 or AMX), which this one "
                         "lacks; use --precision fp32, int8 or auto")


def make_engine(model: Path, engine: str, precision: str, threads: int = 0, net_size: int = NET_SIZE,
                cache_dir: Path | None = None, spin: bool = SPIN) -> BaseEstimator:
    """An engine running the fp32 ONNX file ``model`` at ``precision`` (int8 uses its cached QDQ copy).

    ONNX Runtime does not spin by default: at a 30 fps camera spinning cost up to 1.5x the CPU per
    depth frame for the same FPS, and with a fast source it was no faster on two cores (the bench
    measures both; OpenVINO does not busy-wait).
    """
    check_choice(engine, precision)
    path = model
    if precision == "int8":
        from stream.core.cache import default_cache_dir
        from stream.engines.quantize import int8_for_model

        path = int8_for_model(model, cache_dir if cache_dir is not None else default_cache_dir())
    if engine == "onnxruntime":
        from stream.engines.onnxruntime import OnnxRuntimeEstimator

        return OnnxRuntimeEstimator(path, threads=threads, net_size=net_size, spin=spin, precision=precision)
    if engine == "openvino":
        from stream.engines.openvino import OpenVinoEstimator

        return OpenVinoEstimator(path, threads=threads, net_size=net_size, precision=precision, cache_dir=cache_dir)
    raise ModelError(f"unknown engine {engine!r}; use one of {', '.join(ENGINES)} or auto")


__all__ = ["ENGINES", "PRECISIONS", "BaseEstimator", "check_choice", "make_engine"]
