"""``MODELS``: every depth model by name (the ``--model-name`` value), with where its weights come from.

A model is one network module (``stream.model.<family>``) and one entry here; ``--model-name``,
``model.name``, ``--help``, the README's table, the web page and ``build_network`` all read
this registry. Importing it does not import torch: an entry builds its network lazily.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from stream.core.modelinfo import METRIC, MIDAS_SMALL, RELATIVE, ModelInfo
from stream.core.registry import Registry

if TYPE_CHECKING:
    from torch import nn


@dataclass(frozen=True)
class ModelSpec:
    """One model: what it outputs, its licence, its official checkpoint, and its network.

    ``sha256``/``size``: the official file's, where published (MiDaS); None where not (Depth
    Anything), and then a download is verified by a strict load and its SHA-256 printed so a
    user can pin it (``model.sha256``). The default input size is ``info.net_size``, chosen by
    measurement on a 2-core CPU (README, "Which model").
    """

    info: ModelInfo
    title: str
    licence: str
    meaning: str
    url: str
    filename: str
    build: Callable[[], nn.Module]
    sha256: str | None = None
    size: int | None = None

    @property
    def name(self) -> str:
        return self.info.name

    def help_line(self) -> str:
        """``name: title, licence; meaning`` (``--help`` and the README list these)."""
        return f"{self.name}: {self.title}, {self.licence}; {self.meaning}"


def _midas_small() -> nn.Module:
    from stream.model.network import build_midas_small

    return build_midas_small()


def _depth_anything(name: str) -> Callable[[], nn.Module]:
    def build() -> nn.Module:
        from stream.model.depth_anything import build_depth_anything

        return build_depth_anything(MODELS.get(name).info)

    return build


MODELS: Registry[ModelSpec] = Registry("model")
DEFAULT_MODEL = "midas-small"

MODELS.register(DEFAULT_MODEL, ModelSpec(
    info=MIDAS_SMALL,
    title="MiDaS v2.1 small (2020)",
    licence="MIT",
    meaning="relative inverse depth (larger = nearer, no unit), the fastest",
    url="https://github.com/isl-org/MiDaS/releases/download/v2_1/midas_v21_small_256.pt",
    filename="midas_v21_small_256.pt",
    build=_midas_small,
    sha256="70d6b9c891758c67f974a6097fb0c608c7ee67fb81ac3e5588847d5596d56fca",
    size=85761505,
))



def _register_depth_anything(name: str, title: str, meaning: str, repository: str, filename: str,
                             output: str = RELATIVE, max_depth: float | None = None) -> None:
    """One Depth Anything V2 Small: ViT patches of 14, trained at 518, bilinear upsampling, Apache-2.0 (the Small only)."""
    info = ModelInfo(name=name, output=output, max_depth=max_depth, multiple=14, upsample="bilinear",
                     net_size=252, trained_size=518)
    MODELS.register(name, ModelSpec(info=info, title=title, licence="Apache-2.0", meaning=meaning,
                                    url=f"https://huggingface.co/depth-anything/{repository}/resolve/main/{filename}",
                                    filename=filename, build=_depth_anything(name)))


_register_depth_anything("depth-anything-v2-small", "Depth Anything V2 Small (2024)",
                         "relative inverse depth (larger = nearer, no unit), finer detail than MiDaS",
                         "Depth-Anything-V2-Small", "depth_anything_v2_vits.pth")
_register_depth_anything("depth-anything-v2-small-indoor", "Depth Anything V2 Small, metric indoor (Hypersim)",
                         "metric depth in metres, 0 to 20 m, for rooms",
                         "Depth-Anything-V2-Metric-Hypersim-Small", "depth_anything_v2_metric_hypersim_vits.pth", METRIC, 20.0)
_register_depth_anything("depth-anything-v2-small-outdoor", "Depth Anything V2 Small, metric outdoor (Virtual KITTI 2)",
                         "metric depth in metres, 0 to 80 m, for streets and driving",
                         "Depth-Anything-V2-Metric-VKITTI-Small", "depth_anything_v2_metric_vkitti_vits.pth", METRIC, 80.0)


def model_choices() -> tuple[str, ...]:
    """What ``--model-name`` and ``model.name`` accept now: every registered model."""
    return tuple(MODELS.names())


def build_network(name: str = DEFAULT_MODEL) -> nn.Module:
    """The named model's network, randomly initialised, in eval mode (load weights with strict=True)."""
    return MODELS.get(name).build().eval()
