"""The engine-independent half of a depth estimator: MiDaS pre- and post-processing.

Pure computation: no threads and no I/O besides loading the model once, so the pipeline,
the benchmark and the tests can all call it directly. Preprocessing follows MiDaS exactly
(see tests/data/midas_v21_small_256.manifest.json): RGB in [0, 1], keep-aspect
"upper_bound" resize to multiples of 32 with bicubic interpolation, ImageNet mean/std,
NCHW float32.
"""

from __future__ import annotations

import time
from pathlib import Path

import cv2
import numpy as np

from stream.core.errors import ModelError
from stream.core.protocols import DepthResult, StageTimes

IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)
NET_SIZE = 256
MULTIPLE = 32


def constrain_to_multiple(value: float, limit: int, multiple: int = MULTIPLE) -> int:
    """Round to the nearest multiple (half to even, as numpy does); floor if that exceeds limit."""
    result = int(np.round(value / multiple) * multiple)
    if result > limit:
        result = int(np.floor(value / multiple) * multiple)
    return max(result, multiple)


def network_size(width: int, height: int, net_size: int = NET_SIZE) -> tuple[int, int]:
    """Network input (width, height) for a frame: MiDaS "upper_bound" keep-aspect resize."""
    scale = min(net_size / width, net_size / height)
    return (constrain_to_multiple(scale * width, net_size), constrain_to_multiple(scale * height, net_size))


class BaseEstimator:
    """Shared pre/post-processing and timing; an engine subclass loads the model and implements ``infer``.

    Subclasses call ``_check_input`` with the model's single input (shape and element type)
    so every engine refuses the same wrong models with the same one-line messages.
    """

    engine = "base"
    precision = "fp32"

    def __init__(self, model_path: Path | str, net_size: int = NET_SIZE) -> None:
        self.model_path = Path(model_path)
        if not self.model_path.is_file():
            raise ModelError(f"model file not found: {self.model_path}; check --model or omit it to use MiDaS v2.1 small")
        self.net_size = net_size
        self.fixed_size: tuple[int, int] | None = None
        self._scale = (1.0 / (255.0 * IMAGENET_STD)).astype(np.float32)
        self._offset = (IMAGENET_MEAN / IMAGENET_STD).astype(np.float32)

    def _check_input(self, count: int, name: str, shape: list, float32: bool) -> None:
        """One float32 N x 3 x H x W input; a fixed H x W (if any) becomes the network size."""
        if count != 1:
            raise ModelError(f"{self.model_path}: expected one input, found {count}; pass a single-input depth model")
        if len(shape) != 4:
            raise ModelError(f"{self.model_path}: input {name!r} has rank {len(shape)}, expected 4 (N x 3 x H x W)")
        if isinstance(shape[1], int) and shape[1] != 3:
            raise ModelError(f"{self.model_path}: input {name!r} has {shape[1]} channels, expected 3 (RGB, NCHW)")
        if not float32:
            raise ModelError(f"{self.model_path}: input {name!r} is not float32, expected float32")
        fixed_h, fixed_w = shape[2], shape[3]
        self.fixed_size = (fixed_w, fixed_h) if isinstance(fixed_h, int) and isinstance(fixed_w, int) else None

    def input_size(self, width: int, height: int) -> tuple[int, int]:
        """Network input (width, height) for a frame of the given size."""
        if self.fixed_size is not None:
            return self.fixed_size
        return network_size(width, height, self.net_size)

    def preprocess(self, frame_bgr: np.ndarray) -> np.ndarray:
        """BGR uint8 H x W x 3 -> normalised RGB float32 1 x 3 x h x w."""
        if frame_bgr.ndim != 3 or frame_bgr.shape[2] != 3:
            raise ValueError(f"expected an H x W x 3 BGR image, got shape {frame_bgr.shape}")
        height, width = frame_bgr.shape[:2]
        size = self.input_size(width, height)
        resized = cv2.resize(frame_bgr.astype(np.float32), size, interpolation=cv2.INTER_CUBIC)
        # planar RGB first, then normalise in place: contiguous planes make this ~10x faster
        # than broadcasting over the interleaved, channel-reversed view (same numbers)
        planes = np.ascontiguousarray(resized.transpose(2, 0, 1)[::-1])
        np.multiply(planes, self._scale[:, None, None], out=planes)
        np.subtract(planes, self._offset[:, None, None], out=planes)
        return planes[None]

    def infer(self, tensor: np.ndarray) -> np.ndarray:
        """Network input -> network-sized depth map (h x w float32)."""
        raise NotImplementedError

    @staticmethod
    def _squeeze(output: np.ndarray) -> np.ndarray:
        output = np.asarray(output, dtype=np.float32)
        while output.ndim > 2:
            output = output[0]
        return output

    @staticmethod
    def upsample(depth: np.ndarray, width: int, height: int) -> np.ndarray:
        """Bicubic resize to the frame size (half-pixel centres, like torch align_corners=False)."""
        return cv2.resize(depth, (width, height), interpolation=cv2.INTER_CUBIC)

    def estimate(self, image: np.ndarray) -> DepthResult:
        """BGR picture -> ``DepthResult``: relative inverse depth (larger = nearer), float32, at the picture's size.

        The stage times come back with the result, so threads sharing an engine never read
        each other's (the engine keeps no per-call state).
        """
        t0 = time.perf_counter()
        tensor = self.preprocess(image)
        t1 = time.perf_counter()
        depth = self.infer(tensor)
        t2 = time.perf_counter()
        height, width = image.shape[:2]
        result = self.upsample(depth, width, height)
        t3 = time.perf_counter()
        return DepthResult(result, StageTimes((t1 - t0) * 1e3, (t2 - t1) * 1e3, (t3 - t2) * 1e3))

    def predict(self, image: np.ndarray) -> np.ndarray:
        """Only the depth of ``estimate`` (the benchmark and calibration need no timings)."""
        return self.estimate(image).depth
