"""The engine-independent half of a depth estimator: pre- and post-processing as the model's metadata says.

Pure computation: no threads and no I/O besides loading the model once, so the pipeline,
the benchmark and the tests can all call it directly. Every engine reads the model file's
``ModelInfo`` (``stream.engines.metadata``) and the numbers follow it: RGB in [0, 1], a
keep-aspect "upper_bound" resize (MiDaS's) whose sides are multiples of ``info.multiple``
with bicubic interpolation, ``info.mean``/``info.std``, NCHW float32; the output is resized
back with ``info.upsample``. A file without metadata is prepared exactly as MiDaS v2.1
small was before models carried it (see tests/data/midas_v21_small_256.manifest.json):
multiples of 32, ImageNet mean/std, bicubic output.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path

import cv2
import numpy as np

from stream.core.errors import ModelError
from stream.core.filekind import special_kind
from stream.core.modelinfo import MIDAS_SMALL, ModelInfo
from stream.core.protocols import DepthResult, StageTimes
from stream.engines.metadata import info_from_props

# MiDaS v2.1 small's conventions, the defaults of a file without metadata (and the bench's torch baseline)
IMAGENET_MEAN = np.array(MIDAS_SMALL.mean, dtype=np.float32)
IMAGENET_STD = np.array(MIDAS_SMALL.std, dtype=np.float32)
NET_SIZE = MIDAS_SMALL.net_size
MULTIPLE = MIDAS_SMALL.multiple
INTERPOLATIONS = {"bicubic": cv2.INTER_CUBIC, "bilinear": cv2.INTER_LINEAR}


def constrain_to_multiple(value: float, limit: int, multiple: int = MULTIPLE) -> int:
    """Round to the nearest multiple (half to even, as numpy does); floor if that exceeds limit."""
    result = int(np.round(value / multiple) * multiple)
    if result > limit:
        result = int(np.floor(value / multiple) * multiple)
    return max(result, multiple)


def network_size(width: int, height: int, net_size: int = NET_SIZE, multiple: int = MULTIPLE) -> tuple[int, int]:
    """Network input (width, height) for a frame: MiDaS's "upper_bound" keep-aspect resize.

    ``net_size`` bounds both sides, so it is the long side's upper bound; each side is then
    rounded to a multiple of ``multiple`` no larger than ``net_size`` (never below one
    multiple). With 14 (a ViT's patches) and 256 the long side is 252.
    """
    scale = min(net_size / width, net_size / height)
    return (constrain_to_multiple(scale * width, net_size, multiple),
            constrain_to_multiple(scale * height, net_size, multiple))


class BaseEstimator:
    """Shared pre/post-processing and timing; an engine subclass loads the model and implements ``infer``.

    Subclasses call ``_check_input`` with the model's single input (shape and element type)
    and ``_read_info`` with the file's metadata, so every engine refuses the same wrong
    models with the same one-line messages and feeds the network the same numbers. Until
    ``_read_info`` (or in an engine that never calls it) ``info`` is that of a file without
    metadata: relative, MiDaS-style, named after the file.
    """

    engine = "base"
    precision = "fp32"

    def __init__(self, model_path: Path | str, net_size: int | None = None) -> None:
        self.model_path = Path(model_path)
        kind = special_kind(self.model_path)
        if kind is not None:
            raise ModelError(f"--model {self.model_path} is {kind}; pass an .onnx model file")
        if not self.model_path.is_file():
            raise ModelError(f"model file not found: {self.model_path}; check --model or omit it to use MiDaS v2.1 small")
        self._net_size = net_size
        self.fixed_size: tuple[int, int] | None = None
        self._use(info_from_props({}, self.model_path))

    @property
    def net_size(self) -> int:
        """The network input's long-side bound: the one asked for, else the model's own (``info.net_size``)."""
        return self._net_size if self._net_size is not None else self.info.net_size

    def _read_info(self, props: Mapping[str, str]) -> None:
        """Take the model's ``ModelInfo`` from its metadata props; bad metadata is a one-line ``ModelError``."""
        self._use(info_from_props(props, self.model_path))

    def _use(self, info: ModelInfo) -> None:
        self.info = info
        mean, std = np.array(info.mean, dtype=np.float32), np.array(info.std, dtype=np.float32)
        self._scale = (1.0 / (255.0 * std)).astype(np.float32)
        self._offset = (mean / std).astype(np.float32)

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
        return network_size(width, height, self.net_size, self.info.multiple)

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
    def upsample(depth: np.ndarray, width: int, height: int, method: str = "bicubic") -> np.ndarray:
        """Resize to the frame size, bicubic (MiDaS) or bilinear (Depth Anything), with half-pixel centres.

        Half-pixel centres are torch's ``align_corners=False``; Depth Anything's own code
        upsamples bilinearly with ``align_corners=True``, which differs by under half a
        network pixel at the edges, far below what a frame's depth can show.
        """
        return cv2.resize(depth, (width, height), interpolation=INTERPOLATIONS[method])

    def postprocess(self, depth: np.ndarray, width: int, height: int) -> np.ndarray:
        """Network-sized depth -> the frame's size with ``info.upsample``; a metric model's metres never below 0.

        Bicubic overshoots at sharp edges, which for metres would mean negative distances
        (bilinear cannot, but the clip costs nothing and holds for any metadata).
        """
        result = self.upsample(depth, width, height, self.info.upsample)
        if self.info.is_metric:
            np.maximum(result, 0.0, out=result)
        return result

    def estimate(self, image: np.ndarray) -> DepthResult:
        """BGR picture -> ``DepthResult`` whose ``depth`` is float32 at the picture's size, as ``info`` says.

        A relative model (``info.output == "relative"``, MiDaS and Depth Anything V2 Small)
        gives relative inverse depth: larger = nearer, no unit, unknown scale and shift. A
        metric model gives depth in metres from the camera, larger = farther, 0 to
        ``info.max_depth``. The stage times come back with the result, so threads sharing an
        engine never read each other's (the engine keeps no per-call state).
        """
        t0 = time.perf_counter()
        tensor = self.preprocess(image)
        t1 = time.perf_counter()
        depth = self.infer(tensor)
        t2 = time.perf_counter()
        height, width = image.shape[:2]
        result = self.postprocess(depth, width, height)
        t3 = time.perf_counter()
        return DepthResult(result, StageTimes((t1 - t0) * 1e3, (t2 - t1) * 1e3, (t3 - t2) * 1e3))

    def predict(self, image: np.ndarray) -> np.ndarray:
        """Only the depth of ``estimate`` (the benchmark and calibration need no timings)."""
        return self.estimate(image).depth
