"""The depth networks: torch definitions, official weights, ONNX export, and the model registry.

Importing this package does not import torch: running a given ONNX file (``--model``)
must not pay torch's start-up cost, so the torch-backed names load on first use.
``MODELS`` (``stream.model.registry``) names every model; ``build_network(name)`` builds one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from stream.model.registry import DEFAULT_MODEL, MODELS, ModelSpec, build_network, model_choices

if TYPE_CHECKING:
    from stream.model.depth_anything import DepthAnythingV2, build_depth_anything
    from stream.model.network import MidasSmall, build_midas_small

__all__ = ["DEFAULT_MODEL", "MODELS", "DepthAnythingV2", "MidasSmall", "ModelSpec", "build_depth_anything", "build_midas_small",
           "build_network", "model_choices"]


def __getattr__(name: str) -> Any:
    if name in ("MidasSmall", "build_midas_small"):
        from stream.model import network

        return getattr(network, name)
    if name in ("DepthAnythingV2", "build_depth_anything"):
        from stream.model import depth_anything

        return getattr(depth_anything, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
