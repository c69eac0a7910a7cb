"""The depth network: torch definition, official weights, ONNX export and quantisation.

Importing this package does not import torch: running a given ONNX file (``--model``)
must not pay torch's start-up cost, so the torch-backed names load on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from stream.model.network import MidasSmall, build_midas_small

__all__ = ["MidasSmall", "build_midas_small"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from stream.model import network

        return getattr(network, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
