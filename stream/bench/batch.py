"""``python -m stream.bench.batch``: what the batch on Ray costs and gives, on generated clips.

Offline, with seeded random weights of the real network (exported through the same path as
the official ones). On one set of generated 640x480 H.264 clips, in interleaved rounds:

* plain: the single run (``stream.runtime.run.run``) once per clip in one process, the model made
  once: what a shell loop over the files would do at best, without Ray;
* batch: ``run_batch`` with 1 actor (all cores as its threads), and with the other actor
  counts worth trying on this machine (one per 2 cores, one per core);
* the Ray overhead: batch with 1 actor / plain - 1, per round, median (target <= 10 %); Ray's
  own start-up (``ray.init``, once per command) is reported beside it;
* throughput in frames/s per configuration, the best one named;
* the read rate from storage per actor and per node in MB/s (input bytes over processing
  time), the figure that says how many nodes a shared storage bandwidth can feed.

Timings are wall-clock on a shared machine: compare figures from the same run.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from stream.bench.main import machine_facts, synthetic_frames, write_video
from stream.bench.report import bench_parser, log, publish
from stream.config.settings import Settings
from stream.engines.registry import ENGINES


def make_clips(folder: Path, count: int, frames: int) -> list[Path]:
    """``count`` identical H.264 clips of ``frames`` synthetic 640x480 frames (30 fps)."""
    folder.mkdir(parents=True, exist_ok=True)
    first = folder / "clip00.mp4"
    write_video(first, synthetic_frames(frames))
    clips = [first]
    for index in range(1, count):
        copy = folder / f"clip{index:02d}.mp4"
        copy.write_bytes(first.read_bytes())
        clips.append(copy)
    return clips


def base_settings(model: Path, engine: str, precision: str, threads: int) -> Settings:
    from stream.config.settings import PROJECT_CONFIG, load_settings

    config = PROJECT_CONFIG if PROJECT_CONFIG.is_file() else None
    return load_settings(config, {"model": {"onnx": model, "engine": engine, "precision": precision, "threads": threads},
                                  "display": {"progress": False}})


def plain_runs(settings: Settings, clips: list[Path], out: Path) -> dict[str, float]:
    """The single run per clip, one model for all (its load is timed too: a batch pays its own)."""
    from stream.runtime.estimators import make_estimator
    from stream.runtime.run import run

    out.mkdir(parents=True)
    started = time.perf_counter()
    estimator = make_estimator(settings)
    frames = 0
    for clip in clips:
        one = settings.model_copy(update={"source": str(clip), "output": out / clip.name, "headless": True, "mode": "file"})
        frames += run(one, estimator).stats.displayed
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "frames": frames, "fps": frames / seconds}


def batch_run(settings: Settings, clips: list[Path], out: Path, actors: int, threads: int) -> dict[str, float]:
    """One ``run_batch`` into a fresh folder (nothing skipped); Ray is already up."""
    from stream.batch.run import BatchOptions, run_batch

    started = time.perf_counter()
    summary = run_batch(settings, [str(clips[0].parent)], BatchOptions(out, actors=actors, threads_per_actor=threads))
    seconds = time.perf_counter() - started
    failed = [r.error for r in summary.results if r.status != "done"]
    if failed:
        raise RuntimeError(f"a benchmark file failed: {failed[0]}")
    busy = sum(result.seconds for result in summary.results)  # worker seconds, file open to outputs renamed
    return {"seconds": seconds, "frames": summary.frames, "fps": summary.frames / seconds, "worker_seconds": busy}


def configurations(cores: int) -> list[tuple[int, int]]:
    """(actors, threads each) worth trying: 1 x all cores, one per 2 cores, one per core."""
    found = {(1, cores), (max(1, cores // 2), max(1, cores // max(1, cores // 2))), (cores, 1)}
    return sorted(found)


def run_benchmark(args: argparse.Namespace) -> dict[str, Any]:
    from stream.batch.cluster import ray_session
    from stream.model.checkpoint import save_random_checkpoint
    from stream.model.export import onnx_for_weights

    cores = os.cpu_count() or 1
    configs = configurations(cores)
    rounds: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="depth-bench-batch-") as scratch:
        root = Path(scratch)
        log(f"building random-weights model (seed {args.seed}) and {args.clips} clips of {args.frames} frames")
        model = onnx_for_weights(save_random_checkpoint(root / "random.pt", args.seed), root / "cache")
        clips = make_clips(root / "clips", args.clips, args.frames)
        clip_bytes = sum(clip.stat().st_size for clip in clips)
        settings = base_settings(model, args.engine, args.precision, cores)
        started = time.perf_counter()
        with ray_session(None, cores):
            ray_start = time.perf_counter() - started
            for number in range(args.rounds):
                log(f"round {number + 1}/{args.rounds}: plain single runs, then the batch with {configs}")
                figures: dict[str, Any] = {"plain": plain_runs(settings, clips, root / f"plain-{number}")}
                for actors, threads in configs:
                    out = root / f"batch-{number}-{actors}x{threads}"
                    figures[f"{actors}x{threads}"] = batch_run(settings, clips, out, actors, threads)
                rounds.append(figures)
    return summarise(rounds, configs, ray_start, clip_bytes, args, cores)


def summarise(rounds: list[dict[str, Any]], configs: list[tuple[int, int]], ray_start: float, clip_bytes: int,
              args: argparse.Namespace, cores: int) -> dict[str, Any]:
    def median(key: str, field: str) -> float:
        return float(statistics.median(figures[key][field] for figures in rounds))

    one = f"1x{cores}"
    batches = {f"{a}x{t}": {"actors": a, "threads_per_actor": t, "fps": median(f"{a}x{t}", "fps"),
                            "seconds": median(f"{a}x{t}", "seconds")} for a, t in configs}
    best = max(batches, key=lambda key: batches[key]["fps"])
    overheads = [figures[one]["seconds"] / figures["plain"]["seconds"] - 1 for figures in rounds]
    total_frames = rounds[0]["plain"]["frames"]
    per_actor_rate = clip_bytes / statistics.median(figures[one]["worker_seconds"] for figures in rounds) / 1e6
    node_rate = clip_bytes / batches[best]["seconds"] / 1e6
    return {
        "machine": machine_facts(),
        "clips": {"count": args.clips, "frames_each": args.frames, "size": "640x480", "fps": 30, "total_frames": total_frames,
                  "bytes": clip_bytes, "bytes_per_frame": clip_bytes / max(1, total_frames)},
        "engine": f"{args.engine} {args.precision}", "rounds": args.rounds,
        "plain_fps": median("plain", "fps"), "plain_seconds": median("plain", "seconds"),
        "batch": batches, "best": best,
        "ray_overhead": float(statistics.median(overheads)), "ray_overhead_rounds": overheads,
        "ray_start_seconds": ray_start,
        # time of a 1-actor batch spent in no file (the driver's model check, the actor's start and model load, dispatch):
        # a noise-robust view of the overhead, since it does not compare two runs minutes apart on a shared host
        "ray_own_seconds": float(statistics.median(f[one]["seconds"] - f[one]["worker_seconds"] for f in rounds)),
        "read_mb_s": {"per_actor": per_actor_rate, "per_node_best": node_rate},
    }


def format_table(report: dict[str, Any]) -> str:
    clips = report["clips"]
    one_actor = report["batch"][f"1x{report['machine']['cores']}"]
    lines = [
        f"batch on Ray: {clips['count']} clips x {clips['frames_each']} frames ({clips['size']}, H.264, "
        f"{clips['bytes_per_frame'] / 1e3:.1f} kB/frame), {report['engine']}, {report['machine']['cores']} cores, "
        f"median of {report['rounds']} interleaved rounds",
        f"  {'run':<30} {'frames/s':>9} {'seconds':>9}",
        f"  {'plain single runs (no Ray)':<30} {report['plain_fps']:>9.2f} {report['plain_seconds']:>9.1f}",
    ]
    for key, row in report["batch"].items():
        label = f"batch {row['actors']} actor(s) x {row['threads_per_actor']} thread(s)"
        lines.append(f"  {label:<30} {row['fps']:>9.2f} {row['seconds']:>9.1f}" + ("  <- best" if key == report["best"] else ""))
    lines += [
        f"  Ray overhead (batch 1 actor / plain - 1): {report['ray_overhead'] * 100:+.1f}% (target <= 10%); "
        f"Ray start-up once per command: {report['ray_start_seconds']:.1f} s",
        f"  time of the 1-actor batch outside any file (model check, actor start, dispatch): {report['ray_own_seconds']:.1f} s "
        f"= {report['ray_own_seconds'] / one_actor['seconds'] * 100:.1f}% of it",
        f"  read rate: {report['read_mb_s']['per_actor']:.2f} MB/s per actor, {report['read_mb_s']['per_node_best']:.2f} MB/s "
        f"per node (best configuration) at {clips['bytes_per_frame'] / 1e3:.1f} kB/frame",
    ]
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = bench_parser("python -m stream.bench.batch", "Benchmark the batch on Ray against plain single runs (offline, random weights).")
    parser.add_argument("--clips", type=int, default=6, help="generated clips in the set")
    parser.add_argument("--frames", type=int, default=60, help="frames per clip (640x480)")
    parser.add_argument("--rounds", type=int, default=2, help="interleaved rounds of plain and batch runs")
    parser.add_argument("--engine", default="onnxruntime", choices=ENGINES.names(), help="engine for every run")
    parser.add_argument("--precision", default="fp32", choices=("fp32", "bf16", "int8"), help="precision for every run")
    parser.add_argument("--seed", type=int, default=0, help="random-weights seed")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    report = run_benchmark(args)
    return publish(report, format_table(report), args.json)


if __name__ == "__main__":
    sys.exit(main())
