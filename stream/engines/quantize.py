"""Static INT8 quantisation (QDQ, calibrated) of an ONNX depth model with ONNX Runtime.

Static QDQ keeps activations in int8 between convolutions, which is what makes int8
faster on CPU; dynamic quantisation only quantises weights, re-quantises activations at
run time and was measured slower than fp32 for this network, so it is not offered.
Calibration runs the fp32 model on a handful of varied frames (a user video, or varied
synthetic scenes) preprocessed exactly as at inference time (the model's own input multiple,
mean and std). The weights' sign follows the CPU that runs the copy (``scheme_for``): x86 integer
kernels without VNNI multiply unsigned activations by signed weights with ``vpmaddubsw``, whose
16-bit pair sums saturate (measured on an AVX2 EPYC: mean normalised depth difference 0.085 vs
fp32), so there the weights are unsigned too (0.018 on the same frames); with VNNI (or AMX, or
on ARM) the sums are 32-bit and signed weights are kept. A ViT keeps some operator types in float (``float_ops``), and the int8 copy
carries the fp32 file's metadata, so it is prepared and read exactly as the fp32 model.
"""

from __future__ import annotations

import hashlib
import logging
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

from stream.core.cpu import CpuInfo, this_cpu
from stream.core.modelinfo import PREFIX, ModelInfo
from stream.core.staging import writing
from stream.engines.metadata import read_info, read_props, write_props

log = logging.getLogger(__name__)

QUANT_SETTINGS_VERSION = "qdq-u8s8-perchannel-minmax-v1"
# scheme: (weight type, reduce_range). u8s8 = uint8 activations x int8 weights (ORT's default);
# u8u8 = uint8 weights, no saturation in non-VNNI kernels; u8s8-reduced = 7-bit weights (ORT's
# other remedy, 0.020 on the AVX2 machine against u8u8's 0.018, so u8u8 is the one chosen).
SCHEMES = {"u8s8": ("QInt8", False), "u8u8": ("QUInt8", False), "u8s8-reduced": ("QInt8", True)}
DEFAULT_CALIBRATION_FRAMES = 8

# Left in float in a ViT. On a random-weights ViT-S/14 with a DPT-like metric head (252 x 196,
# three sets of frames) the int8 copy's mean |difference| from fp32 was 4 to 5 times smaller with
# them in float (0.001 of max_depth against 0.004), and it ran no slower: the Conv and MatMul
# layers, where int8 pays, stay quantised. One uint8 scale per tensor serves LayerNorm and
# Softmax poorly, and Add/Mul carry the residual stream (and GELU), whose few very large
# channels would set the scale for all the others; ONNX Runtime also warns on every LayerNorm
# weight it quantises per channel. MiDaS's CNN quantises as before.
VIT_FLOAT_OPS = ("Add", "LayerNormalization", "Mul", "Softmax")
VIT_PATCHES = (14,)  # DINOv2's: a model whose metadata gives this input multiple is a ViT


def float_ops(info: ModelInfo) -> tuple[str, ...]:
    """Operator types kept in float when quantising this model, decided by its metadata: ``VIT_FLOAT_OPS`` for a ViT."""
    return VIT_FLOAT_OPS if info.multiple in VIT_PATCHES else ()


def scheme_for(cpu: CpuInfo | None = None) -> str:
    """The int8 scheme right for ``cpu`` (default: this one): ``u8u8`` on x86 without VNNI, else ``u8s8``."""
    cpu = cpu if cpu is not None else this_cpu()
    return "u8u8" if cpu.arch == "x86" and not cpu.vnni else "u8s8"


def quant_settings(info: ModelInfo, scheme: str = "u8s8") -> str:
    """What the int8 copy's cache name hashes besides the model (a u8s8 CNN's is as before); the scheme is in it."""
    kept = float_ops(info)
    version = QUANT_SETTINGS_VERSION.replace("u8s8", scheme)
    return version + (f"-float-{'-'.join(kept)}" if kept else "")


def varied_frames(count: int, width: int = 640, height: int = 480, seed: int = 0) -> list[np.ndarray]:
    """Deterministic, varied BGR scenes: gradients, blobs and textures at several scales."""
    import cv2

    rng = np.random.default_rng(seed)
    frames = []
    for _ in range(count):
        coarse = rng.integers(0, 256, (rng.integers(2, 9), rng.integers(2, 9), 3), dtype=np.uint8)
        image = cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC)
        for _ in range(int(rng.integers(3, 9))):
            centre = (int(rng.integers(0, width)), int(rng.integers(0, height)))
            colour = tuple(int(c) for c in rng.integers(0, 256, 3))
            if rng.random() < 0.5:
                cv2.circle(image, centre, int(rng.integers(10, height // 3)), colour, -1)
            else:
                size = (int(rng.integers(10, width // 3)), int(rng.integers(10, height // 3)))
                cv2.rectangle(image, centre, (centre[0] + size[0], centre[1] + size[1]), colour, -1)
        noise = rng.normal(0, 8, image.shape)
        frames.append(np.clip(image + noise, 0, 255).astype(np.uint8))
    return frames


class _Reader:
    """ONNX Runtime CalibrationDataReader over preprocessed frames."""

    def __init__(self, input_name: str, tensors: Iterable[np.ndarray]) -> None:
        self._items: Iterator[dict[str, np.ndarray]] = iter({input_name: t} for t in tensors)

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._items, None)

    def rewind(self) -> None:  # onnxruntime may call it; one pass is all we need
        pass


def quantize_model(source: Path, output: Path, frames: Iterable[np.ndarray], scheme: str | None = None) -> Path:
    """Write a static QDQ int8 copy of ``source`` (uint8 activations, per-channel weights of ``scheme``,
    default ``scheme_for`` this CPU) with its metadata."""
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    from stream.engines.onnxruntime import OnnxRuntimeEstimator

    weight_type, reduce_range = SCHEMES[scheme or scheme_for()]
    estimator = OnnxRuntimeEstimator(source)
    tensors = [estimator.preprocess(frame) for frame in frames]
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=output.parent, prefix=".quant-") as tmp:
        prepared = Path(tmp) / "prepared.onnx"
        quant_pre_process(str(source), str(prepared), skip_symbolic_shape=True)
        with writing(output) as staged:
            quantize_static(
                str(prepared),
                str(staged),
                _Reader(estimator.input_name, tensors),
                quant_format=QuantFormat.QDQ,
                op_types_to_quantize=quantised_op_types(estimator.info),
                per_channel=True,
                activation_type=QuantType.QUInt8,
                weight_type=QuantType[weight_type],
                reduce_range=reduce_range,
                calibrate_method=CalibrationMethod.MinMax,
            )
            carry_metadata(source, Path(staged))
    return output


def quantised_op_types(info: ModelInfo) -> list[str] | None:
    """ONNX Runtime's own list (its QDQ and QLinear registries, its default) minus ``float_ops``; None = its default."""
    kept = float_ops(info)
    if not kept:
        return None
    from onnxruntime.quantization.registry import QDQRegistry, QLinearOpsRegistry

    return sorted((set(QDQRegistry) | set(QLinearOpsRegistry)) - set(kept))


def carry_metadata(source: Path, target: Path) -> None:
    """Give ``target`` the ``depth_stream.`` metadata of ``source`` where the quantiser dropped it.

    ONNX Runtime keeps metadata_props today; without them the int8 copy would silently run
    as a relative MiDaS-style model, so this does not rely on it.
    """
    ours = {key: value for key, value in read_props(source).items() if key.startswith(PREFIX)}
    there = read_props(target)
    missing = {key: value for key, value in ours.items() if there.get(key) != value}
    if missing:
        write_props(target, target, missing)


QUANTIZED_OPS = {"QuantizeLinear", "DequantizeLinear", "QLinearConv", "ConvInteger", "MatMulInteger"}


def is_quantized(model: Path) -> bool:
    """Whether the model already holds int8 operators (a user's own int8 ``--model``): quantising it again would only lose accuracy."""
    import onnx

    try:
        graph = onnx.load(str(model), load_external_data=False).graph
    except Exception:  # noqa: BLE001 - not readable as ONNX: the engine says so with its own message
        return False
    return any(node.op_type in QUANTIZED_OPS for node in graph.node)


def model_for_precision(model: Path, precision: str, cache_dir: Path, scheme: str | None = None) -> Path:
    """The ONNX file an engine loads for ``precision``: for int8 the model itself when it already is int8
    (``is_quantized``), else its cached quantised copy (``scheme``, default this CPU's); for fp32 and bf16
    the model. The one int8 decision."""
    return int8_for_model(model, cache_dir, scheme=scheme) if precision == "int8" else model


def refuse_quantized(model: Path) -> None:
    """``python -m stream.model quantize`` of an int8 model: refused, as a run would use it as it is."""
    from stream.core.errors import ModelError

    if is_quantized(model):
        raise ModelError(f"{model} is already int8 (it holds quantised operators); run it with --model {model} "
                         "--precision int8 as it is (quantising again only loses accuracy)")


def int8_name(model: Path, scheme: str) -> str:
    """The int8 copy's file name: the scheme in plain words and in the hash, so a cache copied from a
    machine of another class (VNNI or not) never serves this one a copy quantised the wrong way."""
    digest = hashlib.sha256()
    with open(model, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    digest.update(quant_settings(read_info(model), scheme).encode())
    return f"{Path(model).stem}-int8-{scheme}-{digest.hexdigest()[:12]}.onnx"


def int8_for_model(model: Path, cache_dir: Path, frames: list[np.ndarray] | None = None,
                   scheme: str | None = None) -> Path:
    """The cached int8 copy of an fp32 model, quantising it once on varied frames (an int8 model is used as it is)."""
    scheme = scheme or scheme_for()
    target = Path(cache_dir) / int8_name(model, scheme)
    if target.is_file():
        return target
    if is_quantized(model):
        return model
    log.info("quantising %s to int8 (once; cached at %s)", model, target)
    return quantize_model(model, target, frames or varied_frames(DEFAULT_CALIBRATION_FRAMES), scheme)
