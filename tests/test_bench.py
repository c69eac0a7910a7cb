"""The benchmark runs end to end and reports every figure the README quotes (no timing asserts)."""

from __future__ import annotations

import json

from stream import bench


def test_bench_prints_table_and_writes_json(tmp_path, capsys) -> None:
    out = tmp_path / "bench.json"
    code = bench.main([
        "--json", str(out), "--rounds", "1", "--seconds", "0.5", "--sweep-seconds", "0.3", "--frames", "8",
        "--baseline-frames", "2", "--repeats", "2", "--camera-fps", "120", "--warmup", "0.2",
        "--no-window",  # a real Qt window in pytest's own process could abort it; the CLI window test covers it
    ])
    assert code == 0
    report = json.loads(out.read_text())
    assert set(report["stages_ms"]) == {"capture_decode", "preprocess", "inference", "upsample", "colourise", "compose", "encode",
                                         "depth_export"}
    assert all(value > 0 for value in report["stages_ms"].values())
    assert report["network_input"] == "256x192" and report["weights"].startswith("random")
    assert report["live"]["depth_fps"] > 0 and report["live"]["max_queue"] <= 1
    assert report["file"]["frames"] == 8 and report["file"]["dropped"] == 0
    ratios = {"live_vs_standalone", "live_pipeline_vs_baseline", "file_pipeline_vs_baseline", "int8_live_pipeline_vs_baseline"}
    assert ratios <= set(report["ratios"])
    assert 0 <= report["int8"]["mean_abs_diff_normalised"] < 0.2
    assert set(report["threads_standalone_fps"]) == {"1", "2", "3", "4"}
    assert len(report["pipeline_settings_depth_fps"]) == len(bench.PIPELINE_VARIANTS)
    table = capsys.readouterr().out
    for label in ("stage medians", "standalone inference fp32", "live pipeline depth fp32", "seed-style baseline",
                  "live / standalone inference", "int8 / fp32 speed", "live pipeline fp32 depth fps by setting"):
        assert label in table
