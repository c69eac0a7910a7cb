"""Many files on Ray, as a user runs them: a folder in, a mirrored folder of outputs out, decoded back.

One local Ray instance (2 CPUs) is shared by the in-process runs, as Ray recommends for
tests; the stop tests run the command in a subprocess that starts its own Ray, and stop it
the way a terminal does (Ctrl-C to the process group) or the way the OOM killer does
(SIGKILL), then check what is on disk and that a rerun completes the rest.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import psutil
import pytest

from stream.batch.lock import only_batch_in
from stream.batch.partial import PATTERN
from stream.launch import main
from tests.media import make_video, read_video

ROOT = Path(__file__).resolve().parents[1]
ENGINE = ("--engine", "onnxruntime", "--precision", "fp32")  # Ray workers do not see the test's engine pin


@pytest.fixture(scope="session")
def local_ray(model_cache: Path):
    """One local Ray for the session's batches: in-process ones reuse it, a subprocess joins it by its address."""
    import ray

    from stream.core.cache import CACHE_ENV

    context = ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False, object_store_memory=100 * 1024 * 1024,
                       runtime_env={"env_vars": {CACHE_ENV: str(model_cache)}})
    yield context.address_info["gcs_address"]
    ray.shutdown()


def batch(*args: str | Path) -> int:
    """``depth-stream batch ARGS`` in this process (the console command's dispatch to the batch CLI)."""
    return main(["batch", *(str(arg) for arg in args)])


def summary_of(folder: Path) -> dict[str, dict]:
    return {entry["key"]: entry for entry in json.loads((folder / "batch-summary.json").read_text())["files"]}


def partial_folders(folder: Path) -> list[Path]:
    return [path for path in folder.rglob("*") if PATTERN.match(path.name)]


def mixed_folder(root: Path) -> Path:
    """Videos with audio (one in a subfolder), a photo, a file that is not a video, and a text file."""
    (root / "sub").mkdir(parents=True)
    make_video(root / "a.mp4", 160, 120, 12, fps=24, audio=True)
    make_video(root / "sub" / "b.mkv", 128, 96, 10, fps=20, audio=True)
    y, x = np.mgrid[0:90, 0:120]
    cv2.imwrite(str(root / "p.png"), np.stack([x * 2, y * 2, x + y], axis=-1).astype(np.uint8))
    (root / "sub" / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42 not really a video" * 40)
    (root / "notes.txt").write_text("skipped: neither video nor image")
    return root


def test_folder_batch_writes_every_good_file_reports_the_bad_one_and_resumes(tmp_path, random_onnx, local_ray) -> None:
    inputs, out = mixed_folder(tmp_path / "footage"), tmp_path / "out"
    code = batch(inputs, "--output-dir", out, "--model", random_onnx, *ENGINE, "--depth", "16bit", "-q")
    assert code == 1
    frames, fps, has_audio, _ = read_video(out / "a.mp4")
    assert len(frames) == 12 and fps == Fraction(24) and has_audio and frames[0].shape[:2] == (120, 320)
    frames, fps, has_audio, _ = read_video(out / "sub" / "b.mp4")
    assert len(frames) == 10 and fps == Fraction(20) and has_audio and frames[0].shape[:2] == (96, 256)
    assert cv2.imread(str(out / "p.png")).shape == (90, 240, 3)
    with av.open(str(out / "a.depth.mkv")) as depth:
        planes = [frame.to_ndarray(format="gray16le") for frame in depth.decode(video=0)]
    assert len(planes) == 12 and planes[0].dtype == np.uint16 and planes[0].shape == (120, 160)
    assert len(json.loads((out / "a.depth.mkv.json").read_text())["frames"]) == 12
    assert not (out / "sub" / "broken.mp4").exists() and not (out / "notes.txt").exists() and not partial_folders(out)

    files = summary_of(out)
    assert set(files) == {"a.mp4", "p.png", "sub/b.mkv", "sub/broken.mp4"}
    assert [files[key]["status"] for key in ("a.mp4", "p.png", "sub/b.mkv")] == ["done"] * 3
    assert (files["a.mp4"]["frames"], files["sub/b.mkv"]["frames"], files["p.png"]["frames"]) == (12, 10, 1)
    assert files["sub/broken.mp4"]["status"] == "failed" and "broken.mp4" in files["sub/broken.mp4"]["error"]
    assert "\n" not in files["sub/broken.mp4"]["error"]

    written = (out / "a.mp4").stat().st_mtime_ns
    (inputs / "sub" / "broken.mp4").unlink()
    os.utime(inputs / "p.png")  # an input changed since it was done: made again
    assert batch(inputs, "--output-dir", out, "--model", random_onnx, *ENGINE, "--depth", "16bit", "-q") == 0
    files = summary_of(out)
    assert {key: entry["status"] for key, entry in files.items()} == {"a.mp4": "skipped", "p.png": "done", "sub/b.mkv": "skipped"}
    assert (out / "a.mp4").stat().st_mtime_ns == written

    assert batch(inputs, "--output-dir", out, "--model", random_onnx, *ENGINE, "--depth", "16bit", "-q") == 0
    assert {entry["status"] for entry in summary_of(out).values()} == {"skipped"}


@pytest.mark.parametrize("case", ["nothing found", "output is a file", "output inside the input", "two inputs one output",
                                  "no cluster there", "another batch writing there"])
def test_bad_arguments_exit_2_before_any_work(tmp_path, case, capsys) -> None:
    inputs, out = tmp_path / "in", tmp_path / "out"
    inputs.mkdir()
    make_video(inputs / "a.mp4", 64, 48, 2)
    if case == "nothing found":
        (inputs / "a.mp4").unlink()
        (inputs / "readme.txt").write_text("no media here")
    elif case == "output is a file":
        out.write_text("a file")
    elif case == "output inside the input":
        out = inputs / "out"
    elif case == "two inputs one output":
        make_video(inputs / "a.mov", 64, 48, 2)
    extra = ["--ray-address", "127.0.0.1:1"] if case == "no cluster there" else []  # port 1: nothing listens
    with contextlib.ExitStack() as held:
        if case == "another batch writing there":
            out.mkdir()
            held.enter_context(only_batch_in(out))  # as a running batch holds it (a lock per open file, even in one process)
        assert batch(inputs, "--output-dir", out, "--model", tmp_path / "unused.onnx", *extra) == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    if case == "another batch writing there":
        assert f"another batch (pid {os.getpid()} on " in error and "--output-dir" in error
    assert error.startswith("error: ") and len(error) < 300
    assert not list(tmp_path.rglob("batch-*.json"))


def start_batch(inputs: Path, out: Path, model: Path, *extra: str) -> subprocess.Popen:
    """The command in its own process group, as a terminal runs it (Ctrl-C reaches the whole group)."""
    command = [sys.executable, "-m", "stream.batch", str(inputs), "--output-dir", str(out), "--model", str(model), *ENGINE, *extra]
    return subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)


def wait_for_finished(out: Path, count: int, proc: subprocess.Popen, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if len(json.loads((out / "batch-manifest.json").read_text())["files"]) >= count:
                return
        except (OSError, ValueError, KeyError):
            pass
        assert proc.poll() is None, proc.communicate()[1][-2000:]
        time.sleep(0.05)
    raise AssertionError(f"fewer than {count} files finished in {timeout} s")


def group_members(pgid: int) -> list[psutil.Process]:
    """Live processes of a process group (Ray's daemons and workers started by the batch are in it)."""
    members = []
    for process in psutil.process_iter():
        try:
            if os.getpgid(process.pid) == pgid and process.status() != psutil.STATUS_ZOMBIE:
                members.append(process)
        except (psutil.Error, ProcessLookupError):
            pass
    return members


def wait_group_gone(pgid: int, timeout: float = 10.0) -> list[psutil.Process]:
    deadline = time.monotonic() + timeout
    while (left := group_members(pgid)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return left


def complete_outputs(out: Path, names: list[str], frames: int) -> list[str]:
    """The names present under their final name; each must decode whole."""
    present = [name for name in names if (out / name).exists()]
    for name in present:
        assert len(read_video(out / name)[0]) == frames, f"{name} is under its final name but not whole"
    return present


def test_ctrl_c_then_kill_then_rerun_completes_the_rest(tmp_path, random_onnx, local_ray) -> None:
    inputs, out = tmp_path / "clips", tmp_path / "out"
    inputs.mkdir()
    names = [f"c{index}.mp4" for index in range(5)]
    for name in names:
        make_video(inputs / name, 160, 120, 12, fps=24, audio=True)

    # one actor: files finish one after another, so a stop after the first leaves some not run
    proc = start_batch(inputs, out, random_onnx, "--actors", "1")
    try:
        wait_for_finished(out, 1, proc)
        os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C in the terminal
        _, stderr = proc.communicate(timeout=30)
    finally:
        left = wait_group_gone(proc.pid)
        for process in left:
            process.kill()
    assert proc.returncode == 130, stderr[-2000:]
    assert not left, f"Ray left running after Ctrl-C: {[p.name() for p in left]}"
    document = json.loads((out / "batch-summary.json").read_text())
    statuses = {entry["key"]: entry["status"] for entry in document["files"]}
    assert document["stopped_by"] == "SIGINT" and "not run" in statuses.values() and "done" in statuses.values()
    assert complete_outputs(out, names, 12) == [name for name in names if statuses[name] == "done"]
    assert not partial_folders(out)

    # the batch process is SIGKILLed (the OOM killer); it joined the session's Ray, whose daemons live on
    proc = start_batch(inputs, out, random_onnx, "--ray-address", local_ray, "--actors", "1")
    try:
        done_before = sum(status == "done" for status in statuses.values())
        wait_for_finished(out, done_before + 1, proc)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.communicate(timeout=30)
    present = complete_outputs(out, names, 12)
    assert len(present) < len(names)

    assert batch(inputs, "--output-dir", out, "--model", random_onnx, *ENGINE, "-q") == 0
    assert complete_outputs(out, names, 12) == names
    statuses = {key: entry["status"] for key, entry in summary_of(out).items()}
    skipped = {key for key, status in statuses.items() if status == "skipped"}
    assert skipped <= set(present) and len(skipped) > done_before
    assert not partial_folders(out)


def test_batch_takes_the_model_name_and_keeps_metres(tmp_path, random_onnx_for, local_ray) -> None:
    """A metric model in a batch: its 16-bit depth in millimetres, said in the sidecar; a contradicting name is one line."""
    name = "depth-anything-v2-small-indoor"
    inputs, out = tmp_path / "footage", tmp_path / "out"
    inputs.mkdir()
    make_video(inputs / "a.mp4", 112, 84, 6, fps=12, audio=True)
    code = batch(inputs, "--output-dir", out, "--model-name", name, "--model", random_onnx_for(name), *ENGINE, "--depth", "16bit", "-q")
    assert code == 0
    frames, _, has_audio, _ = read_video(out / "a.mp4")
    assert len(frames) == 6 and has_audio
    sidecar = json.loads((out / "a.depth.mkv.json").read_text())
    assert sidecar["unit"] == "mm" and sidecar["model"] == name and len(sidecar["frames"]) == 6
    with av.open(str(out / "a.depth.mkv")) as depth:
        planes = [frame.to_ndarray(format="gray16le") for frame in depth.decode(video=0)]
    assert len(planes) == 6 and min(int(p.min()) for p in planes) > 0 and max(int(p.max()) for p in planes) <= 20_000
