"""Which model a checkpoint is for, from its tensor names and shapes alone.

A checkpoint given to the wrong model would otherwise fail on its first odd tensor with a
message about that tensor, which does not tell the user what they did: passed the MiDaS
file with a Depth Anything ``--model-name``, or the other way round, or downloaded a Depth
Anything V2 Base/Large/Giant file (CC-BY-NC-4.0, which the app does not offer). Telling
them apart needs no loading: MiDaS's decoder is ``scratch.*`` beside an EfficientNet
``pretrained.layer1``; Depth Anything's is ``depth_head.*`` beside a ViT whose width
(``pretrained.cls_token``) names its size. The relative and metric Depth Anything V2
Small checkpoints have identical names and shapes, so they cannot be told apart here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from stream.core.errors import ModelError

MIDAS_SMALL_STEM = (32, 3, 3, 3)  # EfficientNet-Lite3's stem; larger MiDaS models start otherwise
VIT_SIZES = {384: ("Small", "S"), 768: ("Base", "B"), 1024: ("Large", "L"), 1536: ("Giant", "G")}


@dataclass(frozen=True)
class CheckpointKind:
    """What a checkpoint is: a title for messages and, when the app offers it, its model family.

    ``family`` is a model name whose variants are ``family-*`` (``depth-anything-v2-small``
    covers ``-indoor`` and ``-outdoor``); None for a checkpoint no registered model takes.
    """

    title: str
    family: str | None = None
    why_not: str = ""

    def fits(self, name: str) -> bool:
        return self.family is not None and (name == self.family or name.startswith(self.family + "-"))


def identify(state_dict: Mapping[str, object]) -> CheckpointKind | None:
    """The kind of checkpoint these tensors make, or None when it is neither MiDaS nor Depth Anything."""
    if any(key.startswith("depth_head.") for key in state_dict) and "pretrained.cls_token" in state_dict:
        width = int(getattr(state_dict["pretrained.cls_token"], "shape", (0,))[-1])
        if width not in VIT_SIZES:
            return CheckpointKind(f"Depth Anything checkpoint of unknown size (ViT width {width})",
                                  why_not="no such Depth Anything V2 model exists")
        size, letter = VIT_SIZES[width]
        if size == "Small":
            return CheckpointKind("Depth Anything V2 Small", "depth-anything-v2-small")
        return CheckpointKind(f"Depth Anything V2 {size} (ViT-{letter}, width {width})",
                              why_not="it is CC-BY-NC-4.0 and not offered; use the Small (--model-name depth-anything-v2-small) and its weights")
    if any(key.startswith("scratch.refinenet") for key in state_dict) and "pretrained.layer1.0.weight" in state_dict:
        stem = tuple(getattr(state_dict["pretrained.layer1.0.weight"], "shape", ()))
        if stem == MIDAS_SMALL_STEM:
            return CheckpointKind("MiDaS v2.1 small", "midas-small")
        return CheckpointKind("MiDaS model other than v2.1 small", why_not="only MiDaS v2.1 small is offered (--model-name midas-small)")
    return None


def check_kind(state_dict: Mapping[str, object], name: str, source: str) -> None:
    """Raise a one-line ``ModelError`` when the checkpoint is recognisably not one for model ``name``."""
    kind = identify(state_dict)
    if kind is None or kind.fits(name):
        return
    if kind.family is None:
        raise ModelError(f"{source} is a {kind.title} checkpoint: {kind.why_not}")
    from stream.model.registry import MODELS

    fitting = [other for other in MODELS.names() if kind.fits(other)]
    choices = kind.family
    if len(fitting) > 1:
        choices += f" (or {' / '.join(other.removeprefix(kind.family) for other in fitting if other != kind.family)})"
    raise ModelError(f"{source} is a {kind.title} checkpoint, not {name}; use --model-name {choices} or pass the right file")
