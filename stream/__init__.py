"""depth stream: real-time monocular depth (MiDaS v2.1 small) on CPU with ONNX Runtime."""

__version__ = "0.2.0"
