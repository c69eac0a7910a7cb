"""DepthEstimator: BGR frame in, relative inverse depth (frame-sized float32) out.

The engines live in ``stream.engines``; this module keeps the names the rest of the code imports.

Pure computation: no threads and no I/O besides loading the model once, so the pipeline,
the benchmark and the tests can all call it directly. Preprocessing follows MiDaS exactly
(see tests/data/midas_v21_small_256.manifest.json): RGB in [0, 1], keep-aspect
"upper_bound" resize to multiples of 32 with bicubic interpolation, ImageNet mean/std,
NCHW float32.
"""

from __future__ import annotations

from stream.engines.base import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    MULTIPLE,
    NET_SIZE,
    BaseEstimator,
    StageTimes,
    constrain_to_multiple,
    network_size,
)
from stream.engines.onnxruntime import OnnxRuntimeEstimator

# The name the pipeline, the benchmark and the tests have always used for the ONNX Runtime engine.
DepthEstimator = OnnxRuntimeEstimator

__all__ = ["IMAGENET_MEAN", "IMAGENET_STD", "MULTIPLE", "NET_SIZE", "BaseEstimator", "DepthEstimator",
           "OnnxRuntimeEstimator", "StageTimes", "constrain_to_multiple", "network_size"]
