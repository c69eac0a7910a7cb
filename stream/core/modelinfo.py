"""What a depth model's output means and how its input is prepared, carried in the ONNX file itself.

An exported model writes these facts into its ONNX metadata (``metadata``), and every engine
reads them back (``from_metadata``) when it loads the file, so ``--model file.onnx`` needs no
other flag and nothing downstream guesses: the preprocessing takes the input multiple and
normalisation from here, and the colours, the probe, the depth exports and the point cloud
take the unit (relative inverse depth, or metres). A file without our metadata is taken as
relative inverse depth prepared the MiDaS way, as before models carried it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

RELATIVE = "relative"  # relative inverse depth (disparity): larger = nearer, unknown scale and shift
METRIC = "metric"  # depth in metres from the camera: larger = farther
OUTPUTS = (RELATIVE, METRIC)
UPSAMPLES = ("bicubic", "bilinear")
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

PREFIX = "depth_stream."
FORMAT = "1"


@dataclass(frozen=True)
class ModelInfo:
    """A depth model's name, output kind and input conventions.

    ``multiple``: the network input's sides must be multiples of it (32 for MiDaS's
    encoder, 14 for a ViT's patches). ``max_depth``: the largest depth a metric model can
    output, in metres (its head is ``sigmoid x max_depth``); None for relative models.
    ``net_size``: the default network input (its long side) when the user sets none, chosen
    by measurement (speed against detail); ``trained_size``: the size it was trained at,
    the largest worth feeding it.
    """

    name: str = "midas-small"
    output: str = RELATIVE
    max_depth: float | None = None
    multiple: int = 32
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    upsample: str = "bicubic"
    net_size: int = 256
    trained_size: int = 256

    def __post_init__(self) -> None:
        if self.output not in OUTPUTS:
            raise ValueError(f"output kind {self.output!r} is not one of {', '.join(OUTPUTS)}")
        if self.output == METRIC and not (self.max_depth is not None and self.max_depth > 0):
            raise ValueError("a metric model needs a positive max_depth (metres)")
        if self.multiple < 1:
            raise ValueError(f"input multiple {self.multiple} must be a positive integer")
        if not (self.multiple <= self.net_size and self.multiple <= self.trained_size):
            raise ValueError(f"net_size {self.net_size} and trained_size {self.trained_size} must be at least the multiple")
        if self.upsample not in UPSAMPLES:
            raise ValueError(f"upsample {self.upsample!r} is not one of {', '.join(UPSAMPLES)}")
        if len(self.mean) != 3 or len(self.std) != 3 or min(self.std) <= 0:
            raise ValueError("mean and std need three values each, std positive")

    @property
    def is_metric(self) -> bool:
        return self.output == METRIC

    @property
    def unit(self) -> str:
        """``m`` for a metric model, ``relative`` otherwise (what the overlay and sidecars say)."""
        return "m" if self.is_metric else "relative"

    def describe(self) -> str:
        """One phrase for the startup line and the overlay: the model and what its numbers are."""
        if self.is_metric:
            return f"{self.name} (metric depth in metres, up to {self.max_depth:g} m)"
        return f"{self.name} (relative inverse depth, no unit)"

    def metadata(self) -> dict[str, str]:
        """The ONNX ``metadata_props`` an exported file carries (all strings, as ONNX wants)."""
        props = {
            "format": FORMAT,
            "model": self.name,
            "output": self.output,
            "multiple": str(self.multiple),
            "mean": ",".join(f"{v:g}" for v in self.mean),
            "std": ",".join(f"{v:g}" for v in self.std),
            "upsample": self.upsample,
            "net_size": str(self.net_size),
            "trained_size": str(self.trained_size),
        }
        if self.max_depth is not None:
            props["max_depth"] = f"{self.max_depth:g}"
        return {PREFIX + key: value for key, value in props.items()}

    @classmethod
    def from_metadata(cls, props: Mapping[str, str], fallback_name: str) -> ModelInfo:
        """Read ``metadata()`` back; a file without it is a relative model named ``fallback_name``.

        Raises ``ValueError`` naming the bad entry when the metadata is there but wrong.
        """
        ours = {key.removeprefix(PREFIX): str(value) for key, value in props.items() if key.startswith(PREFIX)}
        if not ours:
            return cls(name=fallback_name)
        try:
            return cls(
                name=ours.get("model", fallback_name),
                output=ours.get("output", RELATIVE),
                max_depth=float(ours["max_depth"]) if "max_depth" in ours else None,
                multiple=int(ours.get("multiple", "32")),
                mean=_triple(ours.get("mean"), IMAGENET_MEAN),
                std=_triple(ours.get("std"), IMAGENET_STD),
                upsample=ours.get("upsample", "bicubic"),
                net_size=int(ours.get("net_size", "256")),
                trained_size=int(ours.get("trained_size", "256")),
            )
        except (TypeError, ValueError) as exc:
            raise ValueError(f"its depth_stream metadata is not valid ({exc})") from None


def _triple(text: str | None, default: tuple[float, float, float]) -> tuple[float, float, float]:
    if text is None:
        return default
    values = tuple(float(part) for part in text.split(","))
    if len(values) != 3:
        raise ValueError(f"{text!r} is not three numbers")
    return values[0], values[1], values[2]


MIDAS_SMALL = ModelInfo()


def model_info_of(estimator: object) -> ModelInfo:
    """The ``info`` of an estimator, or relative MiDaS-style for one that has none (a user's own)."""
    info = getattr(estimator, "info", None)
    return info if isinstance(info, ModelInfo) else MIDAS_SMALL
