"""depth stream: real-time monocular depth (MiDaS v2.1 small) on CPU with ONNX Runtime."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.2.0"

# The public API, imported on first use so that ``import stream`` (the CLI's --version, a
# subpackage) stays cheap: numpy, OpenCV, ONNX Runtime and torch load only when a name is used.
_LAZY = {
    "load_estimator": "stream.api",
    "estimate": "stream.api",
    "DepthStream": "stream.api",
    "DepthResult": "stream.core.protocols",
    "StageError": "stream.core.errors",
    "run": "stream.runtime.run",
    "ENGINES": "stream.api",
    "SOURCES": "stream.api",
    "DEPTH_FORMATS": "stream.api",
    "Engine": "stream.api",
    "SourceKindEntry": "stream.api",
    "DepthFormat": "stream.api",
}

__all__ = ["DEPTH_FORMATS", "ENGINES", "SOURCES", "DepthFormat", "DepthResult", "DepthStream", "Engine", "SourceKindEntry",
           "StageError", "__version__", "estimate", "load_estimator", "run"]

if TYPE_CHECKING:
    from stream.api import (
        DEPTH_FORMATS,
        ENGINES,
        SOURCES,
        DepthFormat,
        DepthStream,
        Engine,
        SourceKindEntry,
        estimate,
        load_estimator,
    )
    from stream.core.errors import StageError
    from stream.core.protocols import DepthResult
    from stream.runtime.run import run


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'stream' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})
