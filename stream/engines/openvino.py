"""OpenVINO engine: reads our ONNX file directly; bf16 where the CPU has it, and the same QDQ int8 file.

One compiled model per network input size (static shapes are what OpenVINO's CPU plugin
is fastest with): a new source size reshapes and compiles once, later frames reuse it. The
sizes follow the model's metadata (multiples of 32 for MiDaS, of 14 for a ViT's patches),
which OpenVINO keeps from the ONNX file in ``rt_info["framework"]``.
Compiled blobs go to ``<model cache>/openvino`` so a restart loads in about a second.
"""

from __future__ import annotations

import functools
import threading
from pathlib import Path
from typing import Any

import numpy as np

from stream.core.errors import ModelError
from stream.engines import check_choice
from stream.engines.base import BaseEstimator

# OpenVINO's compile_model switches the process locale to "C" and back; two compiling at once
# (file mode's engines meeting a new input size together) can leave it at "C", after which
# Python reads and writes text as ASCII. One compile at a time in the process.
COMPILING = threading.Lock()

HINTS = {"fp32": "f32", "bf16": "bf16", "int8": "f32"}


@functools.cache
def has_bf16() -> bool:
    """True when OpenVINO's CPU plugin reports native bfloat16 (AVX-512 BF16 or AMX).

    Asked once per process: the checks before work, the choice and every engine built ask too.
    """
    try:
        import openvino as ov

        return "BF16" in ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")
    except Exception:  # noqa: BLE001 - openvino missing or no CPU plugin: no bf16
        return False


def metadata_props(model: Any) -> dict[str, str]:
    """The ONNX file's metadata_props, which OpenVINO keeps in the model's ``rt_info["framework"]`` (values are ``OVAny``)."""
    rt_info = model.get_rt_info()
    if "framework" not in rt_info:
        return {}
    return {str(key): value.astype(str) for key, value in rt_info["framework"].items()}


def compile_reason(exc: Exception) -> str:
    """The line of an OpenVINO error that says what failed: its first lines only name source files."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    telling = [line for line in lines if not line.startswith(("Exception from", "Check '"))]
    return (telling[-1] if telling else lines[-1] if lines else type(exc).__name__)[:200]


class OpenVinoEstimator(BaseEstimator):
    """Runs an ONNX depth model with OpenVINO on the CPU (LATENCY hint, static shape per size)."""

    engine = "openvino"

    def __init__(self, model_path: Path | str, threads: int = 0, net_size: int | None = None, precision: str = "fp32",
                 cache_dir: Path | None = None) -> None:
        super().__init__(model_path, net_size)
        if precision not in HINTS:
            raise ModelError(f"openvino has no precision {precision!r}; use fp32, bf16 or int8")
        check_choice("openvino", precision)
        self.precision = precision
        try:
            import openvino as ov

            self._core = ov.Core()
            if cache_dir is not None:
                self._core.set_property({"CACHE_DIR": str(Path(cache_dir) / "openvino")})
            self._model = self._core.read_model(str(self.model_path))
        except Exception as exc:  # openvino raises RuntimeError (or ImportError) with long texts
            reason = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
            raise ModelError(f"openvino cannot load {self.model_path} ({reason}); use --engine onnxruntime") from exc
        inputs = self._model.inputs
        port = inputs[0]
        shape = [dim.get_length() if dim.is_static else None for dim in port.get_partial_shape()]
        self._check_input(len(inputs), port.get_any_name(), shape, port.get_element_type() == ov.Type.f32)
        self._read_info(metadata_props(self._model))
        self._config: dict[str, Any] = {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_PRECISION_HINT": HINTS[precision]}
        if threads > 0:
            self._config["INFERENCE_NUM_THREADS"] = int(threads)
        self._requests: dict[tuple[int, ...], Any] = {}
        if precision == "int8":
            # OpenVINO's CPU plugin cannot compile every QDQ graph (Depth Anything's ViT: "empty child
            # edge"); find out now, so ``auto`` skips it and a forced choice fails before any work
            width, height = self.input_size(640, 480)
            self._request((1, 3, height, width))

    def _request(self, shape: tuple[int, ...]) -> Any:
        """The infer request compiled for this input shape (reshaped and compiled on first use)."""
        request = self._requests.get(shape)
        if request is None:
            try:
                with COMPILING:
                    self._model.reshape({0: list(shape)})
                    compiled = self._core.compile_model(self._model, "CPU", self._config)
            except Exception as exc:
                raise ModelError(f"openvino cannot compile {self.model_path} for input {shape} ({compile_reason(exc)}); "
                                 "use --engine onnxruntime") from exc
            request = compiled.create_infer_request()
            self._requests[shape] = request
        return request

    def infer(self, tensor: np.ndarray) -> np.ndarray:
        """Network input -> network-sized depth map (h x w float32)."""
        request = self._request(tuple(tensor.shape))
        request.infer({0: tensor})
        return self._squeeze(request.get_output_tensor(0).data).copy()
