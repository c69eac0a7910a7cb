"""Small generated media for tests: videos (optionally with AAC audio), decoding, an HTTP server.

Everything is deterministic and tiny, so tests can check frame order and timing exactly
without shipping binary fixtures.
"""

from __future__ import annotations

import threading
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from stream.bench.dejitter import served

AUDIO_RATE = 44100


def pattern_frame(index: int, width: int, height: int) -> np.ndarray:
    """A moving gradient with a bright bar whose position encodes the frame index (BGR uint8)."""
    xs = np.linspace(0, 255, width, dtype=np.float32)[None, :]
    ys = np.linspace(0, 255, height, dtype=np.float32)[:, None]
    image = np.empty((height, width, 3), np.uint8)
    image[..., 0] = ((xs + index * 7) % 256).astype(np.uint8)
    image[..., 1] = np.broadcast_to(ys, (height, width)).astype(np.uint8)
    image[..., 2] = ((xs * 0.5 + ys * 0.5 + index * 3) % 256).astype(np.uint8)
    bar = (index * 11) % max(1, width - 8)
    image[:, bar:bar + 8] = 255
    return image


def nearest_pattern(image: np.ndarray, candidates: range) -> int:
    """The index in ``candidates`` whose pattern frame ``image`` (decoded, lossy) looks most like."""
    height, width = image.shape[:2]
    errors = [np.abs(image.astype(np.int16) - pattern_frame(i, width, height).astype(np.int16)).mean() for i in candidates]
    return candidates[int(np.argmin(errors))]


def make_video(path: Path, width: int, height: int, num_frames: int, fps: int = 25, audio: bool = False,
               audio_codec: str = "aac", codec: str = "libx264", container_options: dict[str, str] | None = None) -> Path:
    """Write ``num_frames`` pattern frames (pts = index, time base 1/fps), plus a sine tone if asked.

    ``container_options`` go to the muxer, e.g. ``{"movflags": "faststart"}`` for an MP4 whose
    index comes first (so a copy cut short still opens).
    """
    path = Path(path)
    with av.open(str(path), mode="w", options=container_options or {}) as container:
        options = {"crf": "18", "preset": "ultrafast"} if codec == "libx264" else {}
        video = container.add_stream(codec, rate=fps, options=options)
        video.width, video.height = width, height
        video.pix_fmt = "yuv420p"
        sound = None
        if audio:
            sound = container.add_stream(audio_codec, rate=AUDIO_RATE, layout="mono")
        for index in range(num_frames):
            frame = av.VideoFrame.from_ndarray(pattern_frame(index, width, height), format="bgr24")
            frame.pts = index
            frame.time_base = Fraction(1, fps)
            for packet in video.encode(frame):
                container.mux(packet)
        for packet in video.encode(None):
            container.mux(packet)
        if sound is not None:
            samples = int(AUDIO_RATE * num_frames / fps)
            tone = (0.2 * np.sin(2 * np.pi * 440 * np.arange(samples) / AUDIO_RATE)).astype(np.float32)
            step = 1024
            for start in range(0, samples, step):
                chunk = tone[start:start + step][None, :]
                frame = av.AudioFrame.from_ndarray(chunk, format="flt", layout="mono")
                frame.sample_rate = AUDIO_RATE
                frame.pts = start
                frame.time_base = Fraction(1, AUDIO_RATE)
                for packet in sound.encode(frame):
                    container.mux(packet)
            for packet in sound.encode(None):
                container.mux(packet)
    return path


def read_video(path: Path) -> tuple[list[np.ndarray], Fraction, bool, str | None]:
    """Decode every video frame (BGR); also the frame rate and the audio codec, if any."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = [f.to_ndarray(format="bgr24") for f in container.decode(stream)]
        fps = stream.average_rate
        audio = container.streams.audio[0].codec_context.name if container.streams.audio else None
    return frames, fps, audio is not None, audio


# a folder over HTTP on 127.0.0.1 for the duration of a test: the benchmark's own helper
serve_directory = served


def run_bounded(function, timeout: float = 30.0):
    """Run ``function`` in a thread; fail the test (instead of hanging the suite) if it does not return in time."""
    result: dict = {}

    def target() -> None:
        try:
            result["value"] = function()
        except BaseException as exc:  # noqa: BLE001 - handed back to the test
            result["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(timeout)
    assert not thread.is_alive(), f"still running after {timeout}s"
    if "error" in result:
        raise result["error"]
    return result.get("value")
