"""``python -m stream.bench``: where the time goes, measured side by side in one run.

Everything runs offline on one 640x480 input (a synthetic moving scene, also encoded to a
temporary H.264 file for the decode and file-mode figures) with seeded random weights of
the real architecture, exported through the same code path as the official weights, so
the speed figures are those of the real network. Reported:

* per-stage medians (ms): capture/decode, preprocess, inference, upsample, colourise,
  compose, encode;
* standalone ONNX Runtime inference FPS (fp32, and int8 when measured) at the network size;
* the real pipeline: live-mode depth FPS and capture-to-display latency (median, p95)
  with a camera-like source faster than inference, and file-mode frames/s with encoding;
* a seed-style baseline (one thread, torch eager, resize -> infer -> bicubic upsample ->
  min-max -> Inferno -> hstack per frame) and the ratios against it;
* INT8 (static QDQ) speed ratio and accuracy cost; ONNX Runtime thread settings;
* with ``--dejitter``: live HLS depth FPS against the same clip played live from a file
  (``stream.bench.dejitter``), through the de-jitter buffer and without it;
* colour flicker of ``frame`` and ``stable`` normalisation and ``stable``'s recovery from a
  cut, on synthetic MiDaS-like depth clips (``stream.view.flicker``; not on the random network,
  whose own frame-to-frame noise no normalisation can hide).

Timings are wall-clock on a shared machine: compare ratios from the same run.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from stream.bench.report import bench_parser, log, publish
from stream.bench.timing import median_ms, standalone_fps, time_calls

WIDTH, HEIGHT = 640, 480


def machine_facts() -> dict[str, Any]:
    """The machine a figure is from, with its CPU class (what decides speed) and nominal peak, so figures
    from different classes are never read as one table."""
    import onnxruntime

    from stream.core.cpu import this_cpu

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "onnxruntime": onnxruntime.__version__,
        "platform": platform.platform(),
        "cpu_class": this_cpu().cpu_class,
        "cpu_features": this_cpu().features,
        "cpu_vnni": this_cpu().vnni,
        "cpu_mhz": this_cpu().mhz,
        "peak_gflops_fp32": this_cpu().as_dict()["peak_gflops_fp32"],
        "peak_note": this_cpu().as_dict()["peak_note"],
    }


def cpu_line(machine: dict[str, Any]) -> str:
    """The CPU class line every table starts with: figures are only comparable within a class."""
    peak = machine.get("peak_gflops_fp32")
    peak_text = f"nominal fp32 peak {peak:.0f} GFLOP/s" if peak else "peak unknown"
    return f"CPU class {machine['cpu_class']} ({' '.join(machine['cpu_features']) or 'no listed features'}; {peak_text})"


def synthetic_frames(count: int) -> list[np.ndarray]:
    from stream.sources import SyntheticSource

    with SyntheticSource(WIDTH, HEIGHT, fps=30.0, num_frames=count) as source:
        frames = []
        while (frame := source.read()) is not None:
            frames.append(frame.image)
    return frames


def write_video(path: Path, frames: list[np.ndarray], fps: float = 30.0) -> float:
    """Encode frames to H.264 as the app does; ms per frame, flush included.

    The encoder buffers frames (lookahead, frame threads), so one write call's time says
    little; the whole run divided by the frame count is the cost the pipeline pays.
    """
    from fractions import Fraction

    from stream.core.frames import Frame
    from stream.sinks import VideoFileSink

    started = time.perf_counter()
    with VideoFileSink(path, fps=fps, time_base=Fraction(1, int(fps))) as sink:
        for index, image in enumerate(frames):
            sink.write(Frame(image, index, pts=index, time_base=Fraction(1, int(fps))))
    return (time.perf_counter() - started) * 1e3 / max(1, len(frames))


def decode_times(path: Path) -> list[float]:
    from stream.sources import open_source

    times = []
    with open_source(str(path)) as source:
        while True:
            t0 = time.perf_counter()
            frame = source.read()
            if frame is None:
                break
            times.append((time.perf_counter() - t0) * 1e3)
    return times[2:]


def stage_medians(estimator, frames: list[np.ndarray], video: Path, scratch: Path, repeats: int) -> dict[str, float]:
    """Each stage alone on the same 640x480 frames; encode = the 1280x480 side-by-side output; depth_export = FFV1 16-bit."""
    from stream.export.video import mean_write_ms
    from stream.view.normalize import to_index
    from stream.view.render import colourise, draw_overlay, side_by_side

    frame = frames[len(frames) // 2]
    tensor = estimator.preprocess(frame)
    net_depth = estimator.infer(tensor)
    depth = estimator.upsample(net_depth, WIDTH, HEIGHT)
    coloured = colourise(depth)
    views = [side_by_side(image, colourise(estimator.predict(image))) for image in frames[: min(len(frames), 30)]]
    encode_ms = write_video(scratch / "views.mp4", views)
    return {
        "capture_decode": median_ms(decode_times(video)),
        "preprocess": median_ms(time_calls(lambda: estimator.preprocess(frame), repeats * 3)),
        "inference": median_ms(time_calls(lambda: estimator.infer(tensor), repeats)),
        "upsample": median_ms(time_calls(lambda: estimator.upsample(net_depth, WIDTH, HEIGHT), repeats * 3)),
        "colourise": median_ms(time_calls(lambda: colourise(depth), repeats * 3)),
        "compose": median_ms(time_calls(lambda: draw_overlay(side_by_side(frame, coloured), ["capture 30.0 fps", "dropped 0"]), repeats * 3)),
        "encode": encode_ms,
        "depth_export": mean_write_ms(to_index(depth, float(depth.min()), float(depth.max())), scratch / "depth.mkv"),
        "normalise": normalise_ms(repeats * 3),
    }


def normalise_ms(repeats: int) -> float:
    """Median cost of ``stable`` normalisation per 640x480 frame, fed a moving clip (its state matters)."""
    from stream.view.flicker import Clip, clip_frames
    from stream.view.normalize import Stable

    depths = clip_frames(Clip(frames=30, width=WIDTH, height=HEIGHT))
    normaliser = Stable()
    feed = iter(range(10**9))
    return median_ms(time_calls(lambda: normaliser(depths[next(feed) % len(depths)]), repeats))


def flicker_report(picture: Path | None) -> dict[str, float]:
    """The flicker figures at 640x480 (and the picture of them, when asked for)."""
    from stream.view.flicker import Clip, flicker_figures, flicker_picture
    from stream.view.normalize import make_normaliser

    clip = Clip(width=WIDTH, height=HEIGHT)
    figures = flicker_figures(make_normaliser, clip)
    if picture is not None:
        flicker_picture(picture, make_normaliser, clip)
        log(f"wrote {picture}")
    return figures


IO_THREADS = ("depth-capture", "depth-display")


def pin_io_threads(cpu: int) -> None:
    """Pin the pipeline's capture and display threads to one core (Linux only)."""
    for thread in threading.enumerate():
        if thread.name in IO_THREADS and thread.native_id is not None:
            os.sched_setaffinity(thread.native_id, {cpu})


def live_pipeline(estimator, seconds: float, camera_fps: float, pin_io: bool = False, warmup: float = 1.5,
                  window: bool = False) -> dict[str, float]:
    """Real pipeline, live mode, camera-like paced source faster than inference.

    ``window``: composed frames go to a real OpenCV window run by this (the main) thread,
    as in the app; otherwise nowhere. Needs a display (the benchmark starts Xvfb).
    """
    from stream.gui.window import MailboxSink, Window
    from stream.pipeline.stages import Pipeline
    from stream.pipeline.stats import PipelineOptions
    from stream.sinks import NullSink
    from stream.sources import PacedSource, SyntheticSource
    from stream.view.normalize import make_normaliser

    stop = threading.Event()
    mailbox = MailboxSink() if window else None
    with PacedSource(SyntheticSource(WIDTH, HEIGHT, fps=camera_fps)) as source:
        pipeline = Pipeline(source, estimator, [mailbox or NullSink()], PipelineOptions(live=True), cancel=stop,
                            normaliser=make_normaliser("stable"))  # the app's default
        warm: dict[str, float] = {}

        def mark_warm() -> None:
            if pin_io:
                pin_io_threads(max(os.sched_getaffinity(0)))
            warm["t"] = time.monotonic()
            warm["n"] = pipeline.stats.displayed
            pipeline.stats.latencies.clear()

        timers = [threading.Timer(warmup, mark_warm), threading.Timer(warmup + seconds, stop.set)]
        for timer in timers:
            timer.start()
        try:
            if mailbox is None:
                stats = pipeline.run()
            else:
                shown = Window("depth stream benchmark")
                stats = pipeline.run(foreground=lambda: shown.run(mailbox.mailbox, stop, lambda: pipeline.running))
        finally:
            for timer in timers:
                timer.cancel()
    elapsed = time.monotonic() - warm["t"]
    return {
        "depth_fps": (stats.displayed - warm["n"]) / elapsed,
        "capture_fps": stats.captured / stats.elapsed,
        "latency_ms_median": stats.latency_ms(0.5),
        "latency_ms_p95": stats.latency_ms(0.95),
        "dropped": stats.dropped,
        "max_queue": stats.max_queue,
        "frames": stats.displayed,
    }


def file_pipeline(estimators: list, video: Path, output: Path, preset: str = "superfast") -> dict[str, float]:
    """Real pipeline, file mode: every frame decoded, inferred (by each of ``estimators`` in turn), composed, encoded."""
    from stream.pipeline.stages import Pipeline
    from stream.pipeline.stats import PipelineOptions
    from stream.sinks import VideoFileSink
    from stream.sources import open_source
    from stream.view.normalize import make_normaliser

    with open_source(str(video)) as source:
        info = source.info
        sink = VideoFileSink(output, fps=info.fps, time_base=info.time_base, preset=preset)
        started = time.monotonic()
        stats = Pipeline(source, estimators[0], [sink], PipelineOptions(live=False), normaliser=make_normaliser("stable"),
                         extra_estimators=estimators[1:]).run()
        elapsed = time.monotonic() - started
    return {"frames": stats.displayed, "fps": stats.displayed / elapsed, "dropped": stats.dropped}


def file_mode_engines(model: Path, engine: str, precision: str, threads: int, cache: Path, budget: float = 1.0) -> list:
    """The engines the app runs a file with: one single-threaded engine per core (``inference_streams``).

    ``auto`` is decided as the app decides it, for this shape (the copies timed at once), not
    taken from the live decision: an engine faster alone can be slower as copies.
    """
    from stream.config.settings import load_settings
    from stream.engines.choose import engines_for
    from stream.runtime.estimators import inference_streams

    settings = load_settings(None, {"model": {"threads": threads}})
    copies, each = inference_streams(settings, live=False, single_frame=False)
    return engines_for(model, engine, precision, threads, None, cache, copies=copies, copy_threads=each, budget=budget)


class SeedBaseline:
    """The seed article's loop: one thread, torch eager, everything per frame, in order."""

    def __init__(self, weights: Path) -> None:
        import torch

        from stream.engines.base import IMAGENET_MEAN, IMAGENET_STD, network_size
        from stream.model.checkpoint import network_from_file

        self.model = network_from_file(weights)
        self.mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
        self.std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
        self.net_w, self.net_h = network_size(WIDTH, HEIGHT)
        self.threads = torch.get_num_threads()

    def one(self, frame: np.ndarray) -> np.ndarray:
        import cv2
        import torch

        rgb = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB).astype(np.float32) / 255.0
        resized = cv2.resize(rgb, (self.net_w, self.net_h), interpolation=cv2.INTER_CUBIC)
        x = (torch.from_numpy(resized).permute(2, 0, 1)[None] - self.mean) / self.std
        with torch.no_grad():
            depth = self.model(x)
            depth = torch.nn.functional.interpolate(depth[:, None], size=(HEIGHT, WIDTH), mode="bicubic", align_corners=False)[0, 0]
        d = depth.numpy()
        grey = ((d - d.min()) / (d.max() - d.min() + 1e-8) * 255).astype(np.uint8)
        return np.hstack([frame, cv2.applyColorMap(grey, cv2.COLORMAP_INFERNO)])

    def fps(self, frames: list[np.ndarray], count: int) -> float:
        for frame in frames[:2]:
            self.one(frame)
        started = time.perf_counter()
        for i in range(count):
            self.one(frames[i % len(frames)])
        return count / (time.perf_counter() - started)


def int8_accuracy(fp32: Any, int8: Any) -> dict[str, float]:
    """Mean |difference| of min-max-normalised depth (0..1), fp32 vs int8, on varied scenes."""
    from stream.engines.quantize import varied_frames
    from stream.view.render import normalise_depth

    diffs = []
    for frame in varied_frames(12, seed=12345):
        a = normalise_depth(fp32.predict(frame)).astype(np.float32) / 255.0
        b = normalise_depth(int8.predict(frame)).astype(np.float32) / 255.0
        diffs.append(float(np.abs(a - b).mean()))
    return {"mean_abs_diff_normalised": float(np.mean(diffs)), "max_frame_diff_normalised": float(np.max(diffs))}


def thread_sweep(model: Path, frame: np.ndarray, repeats: int) -> dict[str, float]:
    from stream.engines.onnxruntime import OnnxRuntimeEstimator

    results = {}
    for threads in (1, 2, 3, 4):
        results[str(threads)] = standalone_fps(OnnxRuntimeEstimator(model, threads=threads, spin=True), frame, repeats)
    return results


PIPELINE_VARIANTS = {
    # name: (intra-op threads, ORT spinning, pin capture+display threads to one core)
    "threads=2 spin": (0, True, False),
    "threads=2 no-spin (default)": (0, False, False),
    "threads=1 spin": (1, True, False),
    "threads=1 no-spin": (1, False, False),
    "threads=2 spin, io pinned": (0, True, True),
}


def pipeline_settings_sweep(model: Path, seconds: float, camera_fps: float, warmup: float, passes: int = 2) -> dict[str, float]:
    """Live depth FPS of the real pipeline under each thread setting, interleaved passes."""
    from stream.engines.onnxruntime import OnnxRuntimeEstimator

    results: dict[str, list[float]] = {name: [] for name in PIPELINE_VARIANTS}
    for _ in range(passes):
        for name, (threads, spin, pin) in PIPELINE_VARIANTS.items():
            estimator = OnnxRuntimeEstimator(model, threads=threads, spin=spin)
            results[name].append(live_pipeline(estimator, seconds, camera_fps, pin_io=pin, warmup=warmup)["depth_fps"])
    return {name: float(np.median(values)) for name, values in results.items()}


def median_round(rounds: list[dict[str, float]], key: str) -> dict[str, float]:
    """The round whose ``key`` is the median one (keeps a round's figures together)."""
    ordered = sorted(rounds, key=lambda r: r[key])
    return ordered[len(ordered) // 2]


def run_benchmark(args: argparse.Namespace) -> dict[str, Any]:
    from stream.bench.engines import auto_choice
    from stream.engines import make_engine
    from stream.engines.adaptive import live_engine
    from stream.engines.base import NET_SIZE, network_size
    from stream.engines.onnxruntime import OnnxRuntimeEstimator
    from stream.engines.quantize import model_for_precision, scheme_for
    from stream.model.checkpoint import save_random_checkpoint
    from stream.model.export import onnx_for_weights

    report: dict[str, Any] = {
        "machine": machine_facts(),
        "input": f"{WIDTH}x{HEIGHT}",
        "network_input": "{}x{}".format(*network_size(WIDTH, HEIGHT)),
        "weights": f"random, seed {args.seed} (real architecture; speed only)",
        "rounds": args.rounds,
    }
    log("colour flicker on synthetic MiDaS-like depth clips")
    report["flicker"] = flicker_report(args.flicker_picture)
    with contextlib.ExitStack() as stack:
        cache = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="depth-bench-")))
        log(f"building random-weights model (seed {args.seed}) and exporting to ONNX")
        weights = save_random_checkpoint(cache / "random.pt", args.seed)
        model = onnx_for_weights(weights, cache)
        estimator = OnnxRuntimeEstimator(model, threads=args.threads, spin=True)  # spinning, as these figures always were
        frames = synthetic_frames(args.frames)
        video = cache / "input.mp4"
        write_video(video, frames)

        log("per-stage timings")
        report["stages_ms"] = stage_medians(estimator, frames, video, cache, args.repeats)

        int8_estimator = None
        if not args.skip_int8:
            log("int8 quantisation (static QDQ, 8 calibration frames)")
            int8_model = model_for_precision(model, "int8", cache)  # the same cached copy the engines below use
            int8_estimator = OnnxRuntimeEstimator(int8_model, threads=args.threads, spin=True)
            report["int8_accuracy"] = {**int8_accuracy(estimator, int8_estimator), "scheme": scheme_for()}
        baseline = SeedBaseline(weights)
        log("engines: the auto choice (each engine x precision timed on calibration frames)")
        choice = auto_choice(model, cache, args.threads, NET_SIZE, args.engine_budget)
        auto_estimator = make_engine(model, choice.engine, choice.precision, args.threads, cache_dir=cache)
        log(f"net_size auto: the largest network input holding {args.target_fps:g} fps live")
        sized_estimator = live_engine(model, "auto", "auto", args.threads, cache, args.target_fps, (WIDTH, HEIGHT),
                                      budget=args.engine_budget)
        file_engines = file_mode_engines(model, "onnxruntime", "fp32", args.threads, cache)
        auto_file_engines = file_mode_engines(model, "auto", "auto", args.threads, cache, args.engine_budget)

        # Every figure that goes into a ratio is measured in the same rounds, interleaved,
        # so a load change on this shared machine hits both sides of the ratio.
        display = stack.enter_context(window_display(args.window))
        report["window"] = {"display": display}
        rows: list[dict[str, float]] = []
        for round_index in range(args.rounds):
            log(f"round {round_index + 1}/{args.rounds}: standalone, live pipeline, seed baseline, file pipeline" + (", int8" if int8_estimator else ""))
            row: dict[str, float] = {"standalone_fps": standalone_fps(estimator, frames[0], args.repeats)}
            live = live_pipeline(estimator, args.seconds, args.camera_fps, warmup=args.warmup)
            row.update({f"live_{k}": v for k, v in live.items()})
            if display is not None:
                row["window_live_depth_fps"] = live_pipeline(estimator, args.seconds, args.camera_fps, warmup=args.warmup,
                                                             window=True)["depth_fps"]
            row["baseline_fps"] = baseline.fps(frames, args.baseline_frames)
            file_run = file_pipeline(file_engines, video, cache / "output.mp4")
            row["file_fps"], row["file_frames"], row["file_dropped"] = file_run["fps"], file_run["frames"], file_run["dropped"]
            row["file_one_engine_fps"] = file_pipeline([estimator], video, cache / "output.mp4", preset="veryfast")["fps"]
            row["auto_standalone_fps"] = standalone_fps(auto_estimator, frames[0], args.repeats)
            row["auto_file_fps"] = file_pipeline(auto_file_engines, video, cache / "output.mp4")["fps"]
            row["auto_live_depth_fps"] = live_pipeline(auto_estimator, args.seconds, args.camera_fps, warmup=args.warmup)["depth_fps"]
            row["adaptive_live_depth_fps"] = live_pipeline(sized_estimator, args.seconds, args.camera_fps, warmup=args.warmup)["depth_fps"]
            if int8_estimator is not None:
                row["int8_standalone_fps"] = standalone_fps(int8_estimator, frames[0], args.repeats)
                row["int8_live_depth_fps"] = live_pipeline(int8_estimator, args.seconds, args.camera_fps, warmup=args.warmup)["depth_fps"]
            rows.append(row)
        report["rounds_raw"] = rows
        live_row = median_round(rows, "live_depth_fps")
        report["standalone_fps"] = float(np.median([r["standalone_fps"] for r in rows]))
        report["live"] = {k.removeprefix("live_"): v for k, v in live_row.items() if k.startswith("live_")}
        report["baseline"] = {"fps": float(np.median([r["baseline_fps"] for r in rows])), "torch_threads": baseline.threads}
        report["file"] = {"fps": float(np.median([r["file_fps"] for r in rows])), "frames": int(rows[-1]["file_frames"]),
                          "dropped": int(max(r["file_dropped"] for r in rows)), "engines": len(file_engines),
                          "one_engine_veryfast_fps": float(np.median([r["file_one_engine_fps"] for r in rows])),
                          "auto_fps": float(np.median([r["auto_file_fps"] for r in rows])),
                          "auto_engine": f"{auto_file_engines[0].engine} {auto_file_engines[0].precision}"}

        def ratio(num: str, den: str) -> float:
            return float(np.median([r[num] / r[den] for r in rows]))

        report["ratios"] = {
            "live_vs_standalone": ratio("live_depth_fps", "standalone_fps"),
            "live_pipeline_vs_baseline": ratio("auto_live_depth_fps", "baseline_fps"),
            "fp32_live_pipeline_vs_baseline": ratio("live_depth_fps", "baseline_fps"),
            "file_pipeline_vs_baseline": ratio("file_fps", "baseline_fps"),
            "file_pipeline_vs_standalone": ratio("file_fps", "standalone_fps"),
            "file_one_engine_veryfast_vs_standalone": ratio("file_one_engine_fps", "standalone_fps"),
            "auto_file_pipeline_vs_standalone": ratio("auto_file_fps", "auto_standalone_fps"),
        }
        if display is not None:
            report["window"].update(live_depth_fps=float(np.median([r["window_live_depth_fps"] for r in rows])),
                                    vs_headless=ratio("window_live_depth_fps", "live_depth_fps"))
        if int8_estimator is not None:
            report["int8"] = {
                "standalone_fps": float(np.median([r["int8_standalone_fps"] for r in rows])),
                "live_depth_fps": float(np.median([r["int8_live_depth_fps"] for r in rows])),
                "speedup_standalone": ratio("int8_standalone_fps", "standalone_fps"),
                "speedup_live": ratio("int8_live_depth_fps", "live_depth_fps"),
                **report["int8_accuracy"],
            }
            report["ratios"]["int8_live_pipeline_vs_baseline"] = ratio("int8_live_depth_fps", "baseline_fps")
        if args.dejitter:
            from stream.bench.dejitter import dejitter_report

            report["dejitter"] = dejitter_report(estimator, frames, args.seconds, log=log)
        report.update(engine_section(args, choice, model, cache, frames[0]))
        report["auto"]["live_depth_fps"] = float(np.median([r["auto_live_depth_fps"] for r in rows]))
        report["adaptive"] = {"target_fps": args.target_fps, "net_size": sized_estimator.net_size,
                              "network_input": "{}x{}".format(*sized_estimator.input_size(WIDTH, HEIGHT)),
                              "engine": f"{sized_estimator.engine} {sized_estimator.precision}",
                              "live_depth_fps": float(np.median([r["adaptive_live_depth_fps"] for r in rows]))}
        if not args.skip_threads:
            log("thread settings: standalone intra-op sweep, then live pipeline variants")
            report["threads_standalone_fps"] = thread_sweep(model, frames[0], args.repeats)
            report["pipeline_settings_depth_fps"] = pipeline_settings_sweep(model, args.sweep_seconds, args.camera_fps, args.warmup)
    return report


def engine_section(args: argparse.Namespace, choice: Any, model: Path, cache: Path, frame: np.ndarray) -> dict[str, Any]:
    """Every engine x precision side by side, the auto choice, and CPU seconds per frame at a 30 fps source."""
    from stream.bench.engines import engine_rows, idle_report

    def live(estimator: Any, seconds: float = args.seconds, camera_fps: float = args.camera_fps) -> dict[str, float]:
        return live_pipeline(estimator, seconds, camera_fps, warmup=args.warmup)

    log("engines: standalone and live pipeline per engine x precision")
    section: dict[str, Any] = {"engines": engine_rows(choice, model, cache, args.threads, frame, args.repeats, live)}
    diff = next(r.diff for r in choice.rows if (r.engine, r.precision) == (choice.engine, choice.precision))
    section["auto"] = {"engine": choice.engine, "precision": choice.precision, "depth_diff_vs_fp32": diff, "reason": choice.reason}
    log("idle cost: CPU seconds per depth frame at a 30 fps live source")
    section["idle_cpu_s_per_frame"] = idle_report(choice, model, cache, args.threads, live, args.idle_seconds)
    return section


@contextlib.contextmanager
def window_display(wanted: bool) -> Iterator[str | None]:
    """The display for the window figure: $DISPLAY if set, else a private Xvfb; None to skip it."""
    if not wanted:
        yield None
        return
    if os.environ.get("DISPLAY"):
        yield os.environ["DISPLAY"]
        return
    from stream.bench.xvfb import virtual_display

    with virtual_display(1280, 720) as display:
        if display is None:
            log("no display and no Xvfb: skipping the window figure")
            yield None
            return
        os.environ["DISPLAY"] = display
        try:
            yield display
        finally:
            del os.environ["DISPLAY"]


def format_table(report: dict[str, Any]) -> str:
    from stream.bench.engines import engine_lines

    m = report["machine"]
    lines = [
        f"machine: {m['cpu']}, {m['cores']} cores, Python {m['python']}, onnxruntime {m['onnxruntime']}",
        cpu_line(m),
        f"input {report['input']} -> network {report['network_input']}; weights: {report['weights']}; {report['rounds']} interleaved rounds",
        "",
        "stage medians (ms; encode: mean per frame incl. flush, 1280x480 side-by-side)",
    ]
    lines += [f"  {name:<15}{value:8.2f}" for name, value in report["stages_ms"].items()]
    live, file_, base, ratios = report["live"], report["file"], report["baseline"], report["ratios"]
    lines += [
        "",
        f"standalone inference fp32   {report['standalone_fps']:7.1f} fps",
        f"live pipeline depth fp32    {live['depth_fps']:7.1f} fps   latency median {live['latency_ms_median']:.0f} ms, "
        f"p95 {live['latency_ms_p95']:.0f} ms, dropped {live['dropped']}, max queue {live['max_queue']}",
        f"file pipeline + encoding    {file_['fps']:7.1f} fps   ({file_['frames']} frames, dropped {file_['dropped']}; "
        f"{file_['engines']} single-threaded engines, x264 superfast)",
        f"  one 2-thread engine       {file_['one_engine_veryfast_fps']:7.1f} fps   (the previous file mode: x264 veryfast)",
        f"  auto engine               {file_['auto_fps']:7.1f} fps",
        f"seed-style baseline         {base['fps']:7.1f} fps   (torch eager, {base['torch_threads']} threads)",
    ]
    if "live_depth_fps" in report["window"]:
        shown = report["window"]
        lines.append(f"live pipeline + window      {shown['live_depth_fps']:7.1f} fps   "
                     f"({shown['vs_headless']:.2f}x headless; OpenCV window on the main thread, display {shown['display']})")
    if "int8" in report:
        q = report["int8"]
        lines += [
            f"standalone inference int8   {q['standalone_fps']:7.1f} fps",
            f"live pipeline depth int8    {q['live_depth_fps']:7.1f} fps",
        ]
    lines += [
        "",
        f"live / standalone inference       {ratios['live_vs_standalone']:6.2f}x   (target >= 0.85)",
        f"live pipeline auto / baseline     {ratios['live_pipeline_vs_baseline']:6.2f}x   (target >= 3; auto = "
        f"{report['auto']['engine']} {report['auto']['precision']}, {report['auto']['live_depth_fps']:.1f} fps)",
        f"live pipeline fp32 / baseline     {ratios['fp32_live_pipeline_vs_baseline']:6.2f}x",
        f"file pipeline fp32 / baseline     {ratios['file_pipeline_vs_baseline']:6.2f}x",
        f"file pipeline / standalone fp32   {ratios['file_pipeline_vs_standalone']:6.2f}x   (target >= 0.75; previous file mode "
        f"{ratios['file_one_engine_veryfast_vs_standalone']:.2f}x)",
        f"file pipeline / standalone auto   {ratios['auto_file_pipeline_vs_standalone']:6.2f}x",
    ]
    if "adaptive" in report:
        a = report["adaptive"]
        lines.append(f"net_size auto: network {a['network_input']} ({a['engine']}), live depth {a['live_depth_fps']:.1f} fps "
                     f"(target {a['target_fps']:g}: {'held' if a['live_depth_fps'] >= a['target_fps'] else 'NOT held'})")
    if "int8" in report:
        q = report["int8"]
        lines += [
            f"live pipeline int8 / baseline     {ratios['int8_live_pipeline_vs_baseline']:6.2f}x",
            f"int8 / fp32 speed                 {q['speedup_standalone']:6.2f}x standalone, {q['speedup_live']:.2f}x live   (target >= 1.5)",
            f"int8 mean |normalised depth diff| {q['mean_abs_diff_normalised']:.4f} (worst frame {q['max_frame_diff_normalised']:.4f}; target <= 0.02; "
            f"scheme {q['scheme']} for CPU class {report['machine']['cpu_class']})",
        ]
    if "dejitter" in report:
        from stream.bench.dejitter import dejitter_lines

        lines += ["", *dejitter_lines(report["dejitter"])]
    lines += engine_lines(report)
    lines += ["", *flicker_lines(report["flicker"])]
    if "threads_standalone_fps" in report:
        sweep = ", ".join(f"{k}: {v:.1f}" for k, v in report["threads_standalone_fps"].items())
        lines += ["", f"standalone fp32 fps by intra-op threads   {sweep}", "live pipeline fp32 depth fps by setting"]
        lines += [f"  {name:<28}{fps:6.1f}" for name, fps in report["pipeline_settings_depth_fps"].items()]
    return "\n".join(lines)


def flicker_lines(f: dict[str, float]) -> list[str]:
    return [
        "colour flicker, mean |frame-to-frame change| of the 0-255 depth index (synthetic MiDaS-like clip, 640x480)",
        f"  frame (per-frame min-max)  {f['frame']:6.2f}",
        f"  stable                     {f['stable']:6.2f}   ({f['ratio']:.2f}x frame; target <= 0.33)",
        f"  clip's own change          {f['floor']:6.2f}   (true scale and shift removed: the least any normaliser shows)",
        f"  stable after a hard cut: recovered in {f['recovery_frames']} frames (target <= 5)",
    ]


def build_parser() -> argparse.ArgumentParser:
    parser = bench_parser("python -m stream.bench", "Benchmark depth stream (offline, random weights of the real network).")
    parser.add_argument("--threads", type=int, default=0, help="ONNX Runtime intra-op threads (0 = automatic)")
    parser.add_argument("--seconds", type=float, default=6.0, help="live pipeline measuring time per round")
    parser.add_argument("--warmup", type=float, default=1.0, help="seconds each live run settles before measuring")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds of standalone / live / baseline")
    parser.add_argument("--sweep-seconds", type=float, default=4.0, help="live measuring time per thread-setting variant")
    parser.add_argument("--camera-fps", type=float, default=240.0,
                        help="paced source rate for the live runs: faster than inference, so the pipeline, not the camera, sets the depth FPS")
    parser.add_argument("--frames", type=int, default=90, help="frames in the generated input video")
    parser.add_argument("--baseline-frames", type=int, default=30, help="frames timed for the seed-style baseline")
    parser.add_argument("--repeats", type=int, default=30, help="timed calls per stage")
    parser.add_argument("--seed", type=int, default=0, help="random-weights seed")
    parser.add_argument("--engine-budget", type=float, default=1.0, help="seconds the auto choice times each engine x precision")
    parser.add_argument("--target-fps", type=float, default=15.0,
                        help="live depth rate model.net_size auto must hold (the adaptive figure)")
    parser.add_argument("--idle-seconds", type=float, default=5.0, help="live run per setting for the CPU-per-frame figure")
    parser.add_argument("--skip-int8", action="store_true", help="skip quantisation figures")
    parser.add_argument("--skip-threads", action="store_true", help="skip the thread-count sweep")
    parser.add_argument("--flicker-picture", type=Path, metavar="PATH.png",
                        help="also draw frames of the flicker clip here: top row frame, bottom row stable")
    parser.add_argument("--flicker-only", action="store_true", help="only the flicker figures (seconds, no network)")
    parser.add_argument("--dejitter", action="store_true",
                        help="also live HLS on 127.0.0.1 against the same clip played live from a file (3 live runs of --seconds)")
    parser.add_argument("--no-window", dest="window", action="store_false",
                        help="skip the live-with-window figure (otherwise shown on $DISPLAY or a private Xvfb)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.flicker_only:
        report: dict[str, Any] = {"flicker": flicker_report(args.flicker_picture)}
        return publish(report, "\n".join(flicker_lines(report["flicker"])), args.json)
    report = run_benchmark(args)
    return publish(report, format_table(report), args.json)


if __name__ == "__main__":
    sys.exit(main())
