"""The de-jitter figure: live HLS depth fps against the same content played live from a file, in one run.

Live HLS hands frames over a segment at a time. The same clip is (1) played live from its
file (``PacedSource``: frames at their own times, the steady camera case), (2) written as a
live event HLS playlist in real time (``LiveHls``: PyAV's HLS muxer, 1 s segments) into a
temporary folder served over HTTP on 127.0.0.1 and read through the app's de-jitter buffer
(``DejitteredSource``), and (3) the same live HLS read without it (what "newest frame wins"
makes of whole segments). Each runs the real live pipeline for ``seconds`` after a warm-up;
the figure is depth frames per second. Everything it needs is in PyAV: no FFmpeg CLI.
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

SEGMENT_SECONDS = 1.0
FPS = 25


class LiveHls:
    """Encodes ``frames`` (BGR, looped) at ``fps`` in real time into ``folder/live.m3u8``, a live event playlist.

    It ends (the playlist gains ``#EXT-X-ENDLIST``) after ``count`` frames, if given, or when the block ends.
    """

    def __init__(self, folder: Path, frames: list[np.ndarray], fps: int = FPS, segment: float = SEGMENT_SECONDS,
                 count: int | None = None) -> None:
        self.playlist = folder / "live.m3u8"
        self.frames, self.fps, self.segment, self.count = frames, fps, segment, count
        self.sent = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-hls", daemon=True)

    def __enter__(self) -> LiveHls:
        self._thread.start()
        deadline = time.monotonic() + 30
        while not (self.playlist.exists() and b"#EXTINF" in self.playlist.read_bytes()):
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the HLS writer made no segment")
            time.sleep(0.05)
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join(10)

    def _run(self) -> None:
        import av

        options = {"hls_time": str(self.segment), "hls_playlist_type": "event", "hls_flags": "independent_segments"}
        with av.open(str(self.playlist), "w", format="hls", options=options) as container:
            encode = encoder(container, self.frames[0], self.fps, self.segment)
            started = time.monotonic()
            while not self._stop.is_set() and (self.count is None or self.sent < self.count):
                encode(self.frames[self.sent % len(self.frames)], self.sent)
                self.sent += 1
                self._stop.wait(max(0.0, started + self.sent / self.fps - time.monotonic()))
            encode(None, self.sent)


def encoder(container: Any, first: np.ndarray, fps: int, segment: float) -> Callable[[np.ndarray | None, int], None]:
    """``encode(picture, index)`` into ``container`` as H.264 with a key frame every ``segment`` (None flushes).

    The live HLS and the file it is compared with are encoded alike, so decoding costs both the same.
    """
    import av

    gop = str(round(fps * segment))
    stream = container.add_stream("libx264", rate=fps, options={"preset": "ultrafast", "g": gop, "keyint_min": gop,
                                                                 "sc_threshold": "0"})
    stream.height, stream.width = first.shape[:2]
    stream.pix_fmt = "yuv420p"

    def encode(picture: np.ndarray | None, index: int) -> None:
        if picture is None:
            container.mux(stream.encode(None))
            return
        frame = av.VideoFrame.from_ndarray(picture, format="bgr24")
        frame.pts, frame.time_base = index, Fraction(1, fps)
        container.mux(stream.encode(frame))

    return encode


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *_args: Any) -> None:
        pass


@contextlib.contextmanager
def served(folder: Path) -> Iterator[str]:
    """``folder`` over HTTP on 127.0.0.1 (any free port), as long as the block runs."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(folder)))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="bench-http", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def depth_fps(source: Any, estimator: Any, seconds: float, warmup: float) -> float:
    """The live pipeline on ``source``: depth frames per second over ``seconds`` after ``warmup``."""
    from stream.pipeline.stages import Pipeline
    from stream.pipeline.stats import PipelineOptions
    from stream.sinks import NullSink
    from stream.view.normalize import make_normaliser

    stop = threading.Event()
    pipeline = Pipeline(source, estimator, [NullSink()], PipelineOptions(live=True), cancel=stop,
                        normaliser=make_normaliser("stable"))
    marks: dict[str, float] = {}

    def mark() -> None:
        marks["t"], marks["n"] = time.monotonic(), pipeline.stats.displayed

    timers = [threading.Timer(warmup, mark), threading.Timer(warmup + seconds, stop.set)]
    for timer in timers:
        timer.start()
    try:
        stats = pipeline.run()
    finally:
        for timer in timers:
            timer.cancel()
    return (stats.displayed - marks["n"]) / (time.monotonic() - marks["t"])


def dejitter_report(estimator: Any, frames: list[np.ndarray], seconds: float, warmup: float = 3.0,
                    log: Callable[[str], None] = print) -> dict[str, float]:
    """Depth fps of the same clip from a file played live, from live HLS with and without the de-jitter buffer."""
    import av

    from stream.sources import PacedSource, SourceOptions, open_source
    from stream.sources.dejitter import DejitteredSource

    report: dict[str, float] = {"segment_seconds": SEGMENT_SECONDS, "fps": FPS}
    with tempfile.TemporaryDirectory(prefix="depth-bench-hls-") as scratch:
        folder = Path(scratch)
        clip = folder / "clip.mp4"
        total = round((seconds + warmup + 2) * FPS)
        with av.open(str(clip), "w") as container:
            encode = encoder(container, frames[0], FPS, SEGMENT_SECONDS)
            for index in range(total):
                encode(frames[index % len(frames)], index)
            encode(None, total)
        log("de-jitter: the clip played live from its file")
        with PacedSource(open_source(str(clip))) as source:
            report["file_live_depth_fps"] = depth_fps(source, estimator, seconds, warmup)
        options = SourceOptions(reconnect_attempts=0)
        for name, wrap in (("hls_dejittered_depth_fps", True), ("hls_newest_wins_depth_fps", False)):
            hls = folder / name
            hls.mkdir()
            log(f"de-jitter: the clip as live HLS on 127.0.0.1 ({'through' if wrap else 'without'} the de-jitter buffer)")
            with LiveHls(hls, frames), served(hls) as base:
                stream = open_source(f"{base}/live.m3u8", options)
                with DejitteredSource(stream) if wrap else stream as source:
                    report[name] = depth_fps(source, estimator, seconds, warmup)
    report["dejittered_vs_file"] = report["hls_dejittered_depth_fps"] / report["file_live_depth_fps"]
    report["newest_wins_vs_file"] = report["hls_newest_wins_depth_fps"] / report["file_live_depth_fps"]
    return report


def dejitter_lines(report: dict[str, float]) -> list[str]:
    return [
        f"live HLS ({report['segment_seconds']:g} s segments, {report['fps']} fps) against the same clip played live from a file",
        f"  file, played live            {report['file_live_depth_fps']:6.1f} depth fps",
        f"  live HLS, de-jitter buffer   {report['hls_dejittered_depth_fps']:6.1f} depth fps   "
        f"({report['dejittered_vs_file']:.2f}x file)",
        f"  live HLS, newest wins only   {report['hls_newest_wins_depth_fps']:6.1f} depth fps   "
        f"({report['newest_wins_vs_file']:.2f}x file; before the buffer)",
    ]
