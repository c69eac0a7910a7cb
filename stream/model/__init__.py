"""The depth network: torch definition, official weights, ONNX export and quantisation."""

from stream.model.network import MidasSmall, build_midas_small

__all__ = ["MidasSmall", "build_midas_small"]
