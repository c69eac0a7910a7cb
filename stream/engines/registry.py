"""``ENGINES``: every engine by name, with the precisions it runs and how to build it.

An engine is one module (a ``BaseEstimator`` subclass) and one entry here; ``make_engine``,
the ``auto`` measurement (``choose``), ``ModelSettings.engine`` and the ``--engine`` choices
all read this registry. The built-in entries import their engine module only when one is
built (ONNX Runtime and OpenVINO are heavy imports).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from stream.core.registry import Registry
from stream.engines.base import BaseEstimator

#: make(model_path, threads, net_size, precision, cache_dir, spin) -> an engine (int8: model_path is the QDQ copy;
#: net_size None: the model's own default, ``info.net_size``)
MakeEngine = Callable[[Path, int, "int | None", str, "Path | None", bool], BaseEstimator]


@dataclass(frozen=True)
class Engine:
    """One engine: its name (the ``--engine`` value), the precisions it runs, and how to build it."""

    name: str
    precisions: tuple[str, ...]
    make: MakeEngine
    description: str = ""


def _onnxruntime(model: Path, threads: int, net_size: int | None, precision: str, _cache_dir: Path | None,
                 spin: bool) -> BaseEstimator:
    from stream.engines.onnxruntime import OnnxRuntimeEstimator

    return OnnxRuntimeEstimator(model, threads=threads, net_size=net_size, spin=spin, precision=precision)


def _openvino(model: Path, threads: int, net_size: int | None, precision: str, cache_dir: Path | None,
              _spin: bool) -> BaseEstimator:
    from stream.engines.openvino import OpenVinoEstimator

    return OpenVinoEstimator(model, threads=threads, net_size=net_size, precision=precision, cache_dir=cache_dir)


ENGINES: Registry[Engine] = Registry("engine")
ENGINES.register("onnxruntime", Engine("onnxruntime", ("fp32", "int8"), _onnxruntime, "ONNX Runtime, CPU"))
ENGINES.register("openvino", Engine("openvino", ("fp32", "bf16", "int8"), _openvino, "OpenVINO, CPU (bf16 where the CPU has it)"))


def engine_choices() -> tuple[str, ...]:
    """What ``--engine`` and ``model.engine`` accept now: ``auto`` and every registered engine."""
    return ("auto", *ENGINES.names())


def precision_choices() -> tuple[str, ...]:
    """What ``--precision`` and ``model.precision`` accept now: ``auto`` and every precision a registered engine runs."""
    seen: dict[str, None] = {}
    for entry in ENGINES:
        seen.update(dict.fromkeys(entry.precisions))
    return ("auto", *seen)
