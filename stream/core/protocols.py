"""What the layers promise each other: estimators, sources and sinks as protocols, and a depth result.

The pipeline knows these shapes, never the kinds behind them (a webcam, an OpenVINO engine,
a 16-bit PNG writer), so a new kind is one module and one registry entry. An estimator
returns its stage timings *with* its result, never as state on itself: two threads can share
one estimator (the web page's uploads, a batch actor) without each reading the other's times.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from stream.core.frames import DepthFrame, Frame, Normalised, StageTimes

__all__ = ["AudioFeed", "AudioPackets", "DepthResult", "DepthSink", "Estimator", "FrameSink", "FrameSource",
           "StageTimes"]


@dataclass(frozen=True)
class DepthResult:
    """Depth for one picture: what ``Estimator.estimate`` returns and ``stream.DepthStream`` yields.

    ``depth`` is the model's raw output (float32, H x W at the picture's size), whose meaning
    the model's ``ModelInfo`` gives (``stream.core.modelinfo.model_info_of(estimator)``): for
    a relative model (MiDaS, Depth Anything V2 Small) relative inverse depth, larger = nearer,
    no unit; for a metric model metres from the camera, larger = farther, 0 to ``max_depth``.
    ``frame`` is the BGR picture it came from; ``index`` and ``pts`` (seconds) place it in its
    stream; ``normalized`` is the 0..1 view of the depth that is coloured (stable over time in
    a stream), None from a bare estimate.
    """

    depth: np.ndarray
    times: StageTimes = field(default_factory=StageTimes)
    frame: np.ndarray | None = None
    index: int = 0
    pts: float | None = None
    normalized: np.ndarray | None = None


class Estimator(Protocol):
    """BGR picture in (H x W x 3 uint8, OpenCV's order), depth at the picture's size out."""

    def estimate(self, image: np.ndarray) -> DepthResult: ...


class FrameSource(Protocol):
    """``read`` returns the next frame, or None at the end of the stream."""

    def read(self) -> Frame | None: ...


class FrameSink(Protocol):
    """Takes composed pictures (the side-by-side view); ``close`` leaves its output usable."""

    def write(self, frame: Frame) -> None: ...

    def close(self) -> None: ...


class DepthSink(Protocol):
    """Keeps the depth itself (not the picture of it): raw values and how they were normalised."""

    def write_depth(self, item: DepthFrame, normalised: Normalised) -> None: ...

    def close(self) -> None: ...


class AudioPackets(Protocol):
    """A source's compressed sound, packet by packet, for an output to copy or re-encode.

    ``stream`` is the PyAV audio stream the packets belong to (an output copies its codec
    parameters); ``next_packet`` returns None when nothing is waiting, which for a file is
    its end and for a live stream only "not yet".
    """

    @property
    def stream(self) -> Any: ...

    def next_packet(self) -> Any: ...

    def close(self) -> None: ...


class AudioFeed(Protocol):
    """A live source's sound as it arrives: ``open`` gives an output its packets (None: no sound)."""

    def open(self) -> AudioPackets | None: ...
