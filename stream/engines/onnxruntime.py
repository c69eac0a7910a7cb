"""ONNX Runtime engine: the portable one the project is built on (fp32 and the QDQ int8 file)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from stream.core.errors import ModelError
from stream.engines.base import BaseEstimator

# Spinning keeps idle ORT workers busy-waiting for the next op: a little faster alone, but at a
# 30 fps camera it cost up to 1.5x the CPU per depth frame for the same FPS, and on two cores it
# can starve the capture and display threads. The one default; the bench measures both.
SPIN = False


class OnnxRuntimeEstimator(BaseEstimator):
    """Runs an ONNX depth model taking NCHW float input on the CPU with ONNX Runtime."""

    engine = "onnxruntime"

    def __init__(self, model_path: Path | str, threads: int = 0, net_size: int | None = None, spin: bool = SPIN,
                 precision: str = "fp32") -> None:
        import onnxruntime as ort

        super().__init__(model_path, net_size)
        self.precision = precision
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.intra_op_num_threads = max(0, int(threads))
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spin else "0")
        try:
            self.session = ort.InferenceSession(str(self.model_path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own untyped errors for bad files
            reason = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
            raise ModelError(
                f"{self.model_path} is not a loadable ONNX model ({reason}); pass an .onnx file "
                "exported with `python -m stream.model export` or omit --model"
            ) from exc
        inputs = self.session.get_inputs()
        spec = inputs[0]
        self._check_input(len(inputs), spec.name, list(spec.shape), "float" in spec.type and "16" not in spec.type)
        self.input_name = spec.name
        self.output_name = self.session.get_outputs()[0].name
        self._read_info(self.session.get_modelmeta().custom_metadata_map)

    def infer(self, tensor: np.ndarray) -> np.ndarray:
        """Network input -> network-sized depth map (h x w float32)."""
        return self._squeeze(self.session.run([self.output_name], {self.input_name: tensor})[0])
