"""``python -m stream.model``: export, quantize and download as a user runs them.

The export runs once per module (it costs seconds); the quantize test reuses its output.
"""

from __future__ import annotations

import contextlib
import functools
import io
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from stream.core.cache import sha256_of
from stream.core.modelinfo import ModelInfo
from stream.model import weights
from stream.model.__main__ import main
from stream.model.registry import MODELS
from tests.conftest import torch_threads
from tests.media import serve_directory

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Ran:
    code: int
    out: str
    err: str


def run_main(*argv: str) -> Ran:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv))
    return Ran(code, out.getvalue(), err.getvalue())


def one_line_error(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("error: ")
    return lines[0]


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Ran]:
    path = tmp_path_factory.mktemp("cli-export") / "sub" / "random.onnx"
    return path, run_main("export", "--output", str(path), "--random-seed", "0")


def test_export_random_seed_writes_valid_onnx(exported) -> None:
    path, ran = exported
    assert ran.code == 0
    assert ran.out.strip() == str(path)
    onnx.checker.check_model(str(path))
    graph = onnx.load(str(path)).graph
    assert [i.name for i in graph.input] == ["image"] and [o.name for o in graph.output] == ["depth"]
    dims = [d.dim_param or d.dim_value for d in graph.input[0].type.tensor_type.shape.dim]
    assert dims[1] == 3 and isinstance(dims[2], str) and isinstance(dims[3], str)
    assert [p.name for p in path.parent.iterdir()] == ["random.onnx"]  # no temp file left


def test_export_random_seed_warns(exported) -> None:
    _, ran = exported
    assert "random weights" in ran.err and "tests and benchmarks only" in ran.err
    assert "seed 0" in ran.err


def test_export_help_says_random_weights_are_for_tests(capsys) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["export", "--help"])
    assert exit_.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "--random-seed" in text and "FOR TESTS AND BENCHMARKS ONLY" in text and "meaningless" in text


def test_export_missing_weights(tmp_path) -> None:
    out = tmp_path / "m.onnx"
    ran = run_main("export", "--output", str(out), "--weights", str(tmp_path / "missing.pt"))
    assert ran.code == 2
    assert str(tmp_path / "missing.pt") in one_line_error(ran.err)
    assert not out.exists() and ran.out == ""


def test_export_wrong_checkpoint_names_the_tensor(tmp_path) -> None:
    weights = tmp_path / "other.pt"
    torch.save({"conv.weight": torch.zeros(2, 3)}, weights)
    out = tmp_path / "m.onnx"
    ran = run_main("export", "--output", str(out), "--weights", str(weights))
    assert ran.code == 2
    line = one_line_error(ran.err)
    assert str(weights) in line and "missing" in line and "MiDaS v2.1 small" in line
    assert not out.exists()


def test_export_depth_anything_by_name_carries_its_metadata(random_checkpoint_for, tmp_path) -> None:
    name = "depth-anything-v2-small-outdoor"
    out = tmp_path / "da2.onnx"
    with torch_threads(1):
        ran = run_main("export", "--model-name", name, "--weights", str(random_checkpoint_for("depth-anything-v2-small")), "--output", str(out))
    assert ran.code == 0, ran.err
    assert ran.out.strip() == str(out)
    props = {p.key: p.value for p in onnx.load(str(out), load_external_data=False).metadata_props}
    assert ModelInfo.from_metadata(props, "none") == MODELS.get(name).info
    assert props["depth_stream.max_depth"] == "80" and props["depth_stream.multiple"] == "14"


def test_export_midas_weights_as_depth_anything_is_one_line(random_weights, tmp_path) -> None:
    out = tmp_path / "m.onnx"
    ran = run_main("export", "--model-name", "depth-anything-v2-small", "--weights", str(random_weights), "--output", str(out))
    assert ran.code == 2
    line = one_line_error(ran.err)
    assert f"{random_weights} is a MiDaS v2.1 small checkpoint, not depth-anything-v2-small" in line
    assert "--model-name midas-small" in line
    assert not out.exists()


def test_download_by_model_name_prints_path_and_digest(random_checkpoint_for, tmp_path, monkeypatch) -> None:
    name = "depth-anything-v2-small"
    checkpoint = random_checkpoint_for(name)
    with serve_directory(checkpoint.parent) as base:
        monkeypatch.setattr(weights, "ensure_weights", functools.partial(weights.ensure_weights, url=f"{base}/{checkpoint.name}", progress=False))
        ran = run_main("download", "--model-name", name, "--cache-dir", str(tmp_path))
    assert ran.code == 0, ran.err
    cached = tmp_path / "depth_anything_v2_vits.pth"
    assert ran.out.strip() == str(cached)
    assert ran.err.strip() == f"sha256 of depth_anything_v2_vits.pth: {sha256_of(checkpoint)}; pin it with model.sha256"


def test_export_needs_weights_or_seed(tmp_path, capsys) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["export", "--output", str(tmp_path / "m.onnx")])
    assert exit_.value.code == 2
    assert "--weights" in capsys.readouterr().err


def test_quantize_writes_runnable_int8_model(exported, tmp_path) -> None:
    source, _ = exported
    target = tmp_path / "int8" / "m-int8.onnx"
    ran = run_main("quantize", "--input", str(source), "--output", str(target), "--frames", "2")
    assert ran.code == 0, ran.err
    assert ran.out.strip() == str(target)
    ops = {node.op_type for node in onnx.load(str(target)).graph.node}
    assert {"QuantizeLinear", "DequantizeLinear", "Conv"} <= ops
    assert [p.name for p in target.parent.iterdir()] == ["m-int8.onnx"]  # no temp folder left

    image = np.random.default_rng(0).standard_normal((1, 3, 192, 256), dtype=np.float32)
    options = ort.SessionOptions()
    options.intra_op_num_threads = 2
    int8 = ort.InferenceSession(str(target), options, providers=["CPUExecutionProvider"]).run(None, {"image": image})[0]
    fp32 = ort.InferenceSession(str(source), options, providers=["CPUExecutionProvider"]).run(None, {"image": image})[0]
    assert int8.shape == fp32.shape == (1, 192, 256)
    assert np.isfinite(int8).all() and np.abs(int8).max() > 0
    assert np.corrcoef(int8.ravel(), fp32.ravel())[0, 1] > 0.9  # same depth map, coarser numbers


def test_quantize_missing_input(tmp_path) -> None:
    ran = run_main("quantize", "--input", str(tmp_path / "nope.onnx"), "--output", str(tmp_path / "q.onnx"), "--frames", "2")
    assert ran.code == 2
    assert str(tmp_path / "nope.onnx") in one_line_error(ran.err)
    assert not (tmp_path / "q.onnx").exists()


def test_download_offline_is_one_line_exit_1(tmp_path, monkeypatch) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}/midas_v21_small_256.pt"
    monkeypatch.setattr(weights, "ensure_weights", functools.partial(weights.ensure_weights, url=url, progress=False))
    ran = run_main("download", "--cache-dir", str(tmp_path))
    assert ran.code == 1
    line = one_line_error(ran.err)
    assert url in line and str(tmp_path) in line and "--weights" in line
    assert list(tmp_path.iterdir()) == []


def test_module_help_in_a_subprocess() -> None:
    done = subprocess.run([sys.executable, "-m", "stream.model", "--help"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    for command in ("export", "quantize", "download"):
        assert command in done.stdout
