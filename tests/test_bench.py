"""The benchmark runs end to end and reports every figure the README quotes (no timing asserts)."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest

from stream.bench import main as bench


@pytest.mark.measures_engines
def test_bench_prints_table_and_writes_json(tmp_path, capsys) -> None:
    out = tmp_path / "bench.json"
    code = bench.main([
        "--json", str(out), "--rounds", "1", "--seconds", "0.5", "--sweep-seconds", "0.3", "--frames", "8",
        "--baseline-frames", "2", "--repeats", "2", "--camera-fps", "120", "--warmup", "0.2",
        "--engine-budget", "0.1", "--idle-seconds", "0.5",
        "--no-window",  # a real Qt window in pytest's own process could abort it; the CLI window test covers it
    ])
    assert code == 0
    report = json.loads(out.read_text())
    assert set(report["stages_ms"]) == {"capture_decode", "preprocess", "inference", "upsample", "colourise", "compose", "encode",
                                         "depth_export", "normalise"}
    assert all(value > 0 for value in report["stages_ms"].values())
    assert report["network_input"] == "256x192" and report["weights"].startswith("random")
    assert report["live"]["depth_fps"] > 0 and report["live"]["max_queue"] <= 1
    assert report["file"]["frames"] == 8 and report["file"]["dropped"] == 0 and report["file"]["engines"] >= 1
    assert report["file"]["one_engine_veryfast_fps"] > 0 and report["file"]["auto_fps"] > 0
    ratios = {"live_vs_standalone", "live_pipeline_vs_baseline", "file_pipeline_vs_baseline", "file_pipeline_vs_standalone",
              "int8_live_pipeline_vs_baseline", "file_one_engine_veryfast_vs_standalone", "auto_file_pipeline_vs_standalone"}
    assert ratios <= set(report["ratios"])
    assert 0 <= report["int8"]["mean_abs_diff_normalised"] < 0.2
    assert report["int8"]["scheme"] in ("u8s8", "u8u8")
    machine = report["machine"]
    assert {"cpu", "cores", "cpu_class", "cpu_features", "cpu_vnni", "peak_gflops_fp32", "peak_note"} <= set(machine)
    assert set(report["threads_standalone_fps"]) == {"1", "2", "3", "4"}
    assert {"fp32_live_pipeline_vs_baseline"} <= set(report["ratios"])
    auto = report["auto"]
    assert auto["engine"] in ("onnxruntime", "openvino") and auto["precision"] in ("fp32", "bf16", "int8")
    assert 0 <= auto["depth_diff_vs_fp32"] <= 0.01 and auto["live_depth_fps"] > 0
    adaptive = report["adaptive"]
    assert adaptive["target_fps"] == 15 and adaptive["live_depth_fps"] > 0
    assert adaptive["net_size"] % 32 == 0 and 64 <= adaptive["net_size"] <= 256  # MiDaS: multiples of 32 up to its trained 256
    runs = [row for row in report["engines"] if not row["error"]]
    assert {(r["engine"], r["precision"]) for r in runs} >= {("onnxruntime", "fp32"), ("onnxruntime", "int8"), ("openvino", "fp32")}
    assert all(r["standalone_fps"] > 0 and r["live_depth_fps"] > 0 for r in runs)
    idle = report["idle_cpu_s_per_frame"]
    assert {"onnxruntime fp32 spin", "onnxruntime fp32 no-spin"} <= set(idle) and all(v["cpu_s_per_frame"] > 0 for v in idle.values())
    assert len(report["pipeline_settings_depth_fps"]) == len(bench.PIPELINE_VARIANTS)
    flicker = report["flicker"]
    assert {"frame", "stable", "ratio", "recovery_frames"} <= set(flicker)
    assert flicker["stable"] < flicker["frame"] and isinstance(flicker["recovery_frames"], int)
    table = capsys.readouterr().out
    for label in ("stage medians", "standalone inference fp32", "live pipeline depth fp32", "seed-style baseline",
                  "live / standalone inference", "int8 / fp32 speed", "file pipeline / standalone auto", "live pipeline fp32 depth fps by setting",
                  "engine x precision", "auto choice", "CPU class", "CPU seconds per depth frame",
                  "colour flicker", "frame (per-frame min-max)", "stable after a hard cut", "net_size auto: network"):
        assert label in table


def test_flicker_only_draws_the_picture(tmp_path, capsys) -> None:
    picture = tmp_path / "flicker.png"
    assert bench.main(["--flicker-only", "--flicker-picture", str(picture), "--json", str(tmp_path / "f.json")]) == 0
    import cv2

    image = cv2.imread(str(picture))
    assert image is not None and image.shape == (240, 960, 3)  # two rows (frame, stable) of six 160x120 frames
    assert not list(tmp_path.glob("*.partial*"))
    assert set(json.loads((tmp_path / "f.json").read_text())) == {"flicker"}
    assert "stable after a hard cut" in capsys.readouterr().out


def test_models_bench_reads_each_figure_against_the_cpu_class_peak(monkeypatch) -> None:
    from stream.bench import models
    from stream.core import cpu
    from tests.test_cpu import ZEN2

    monkeypatch.setenv(cpu.FLAGS_ENV, ZEN2)
    machine = bench.machine_facts()
    assert machine["cpu_class"] == "avx2" and machine["cpu_vnni"] is False and "avx2" in machine["cpu_features"]

    class Engine:
        def input_size(self, width: int, height: int) -> tuple[int, int]:
            return 256, 192

    monkeypatch.setattr(models, "gflop_per_frame", lambda name, width, height: 2.0)
    key = ("midas-small", "onnxruntime", "fp32")
    rows = models.model_rows(["midas-small"], {}, {key: Engine()}, {},
                             [{key: {"standalone_fps": 10.0, "live_depth_fps": 9.0}}])
    row = rows[0]["engines"][0]
    peak = machine["peak_gflops_fp32"]
    assert row["gflop_per_s"] == 20.0
    assert row["percent_of_peak"] == (100 * 20.0 / peak if peak else None)
    table = models.format_table({"machine": machine, "input": "640x480", "rounds": 1, "models": rows})
    assert "CPU class avx2" in table and "% peak" in table


def test_dejitter_figure_compares_live_hls_with_the_file_in_one_run() -> None:
    from stream.bench.dejitter import dejitter_lines, dejitter_report
    from stream.core.protocols import DepthResult
    from tests.media import pattern_frame

    class Slow:
        def estimate(self, image):
            time.sleep(0.05)
            return DepthResult(image[..., 0].astype(np.float32))

    report = dejitter_report(Slow(), [pattern_frame(i, 160, 120) for i in range(10)], seconds=1.0, warmup=1.5, log=lambda _: None)
    assert {"file_live_depth_fps", "hls_dejittered_depth_fps", "hls_newest_wins_depth_fps", "dejittered_vs_file"} <= set(report)
    assert all(report[key] > 0 for key in ("file_live_depth_fps", "hls_dejittered_depth_fps", "hls_newest_wins_depth_fps"))
    assert "live HLS, de-jitter buffer" in "\n".join(dejitter_lines(report))
