"""Many files on Ray, as a user runs them: a folder in, a mirrored folder of outputs out, decoded back.

One local Ray instance (2 CPUs) is shared by the in-process runs, as Ray recommends for
tests; the stop tests run the command in a subprocess that starts its own Ray, and stop it
the way a terminal does (Ctrl-C to the process group) or the way the OOM killer does
(SIGKILL), then check what is on disk and that a rerun completes the rest.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import platform
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import psutil
import pytest

from stream.batch.cli import NOT_HERE, SHARED_FLAGS, build_parser
from stream.batch.lock import only_batch_in
from stream.batch.partial import PATTERN
from stream.config.flags import FLAGS, settings_from
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


def test_folder_batch_writes_every_good_file_reports_the_bad_one_and_resumes(tmp_path, random_onnx, local_ray, capsys) -> None:
    inputs, out = mixed_folder(tmp_path / "footage"), tmp_path / "out"
    code = batch(inputs, "--output-dir", out, "--model", random_onnx, *ENGINE, "--depth", "16bit", "-q")
    assert code == 1
    printed = capsys.readouterr()  # -q: only errors, and the failed file is one
    assert printed.out == "" and [line for line in printed.err.splitlines() if line.strip()] == [
        f"error: sub/broken.mp4 failed: {summary_of(out)['sub/broken.mp4']['error']}"]
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


def without_ray_auth() -> dict[str, str]:
    """This environment as a new shell has it: no token settings (Ray sets RAY_AUTH_MODE in a process that starts it)."""
    return {name: value for name, value in os.environ.items() if not name.startswith("RAY_AUTH")}


def test_quiet_batch_prints_nothing_on_success(tmp_path, random_onnx) -> None:
    """-q: errors only. A local Ray started by the command (with Ray's token default, which warns) says nothing."""
    inputs = tmp_path / "clips"
    inputs.mkdir()
    make_video(inputs / "a.mp4", 96, 72, 4, fps=12)
    command = [sys.executable, "-m", "stream.batch", str(inputs), "--output-dir", str(tmp_path / "out"), "--model", str(random_onnx),
               *ENGINE, "--actors", "1", "-q"]
    ran = subprocess.run(command, cwd=ROOT, env=without_ray_auth(), capture_output=True, text=True, timeout=180)
    assert ran.returncode == 0, ran.stderr[-2000:]
    assert (ran.stdout, ran.stderr) == ("", "")
    assert len(read_video(tmp_path / "out" / "a.mp4")[0]) == 4


def test_summary_table_is_the_standard_output_and_names_node_and_file_problems(tmp_path, random_onnx, local_ray, capsys) -> None:
    """The table (the result) on stdout with each file's host and node id; progress and notes on stderr; a bad
    file's error names it and its problem in the batch's words (no single-run flag, no pipeline stage)."""
    import ray

    inputs, out = tmp_path / "clips", tmp_path / "out"
    inputs.mkdir()
    make_video(inputs / "a.mp4", 96, 72, 4, fps=12)
    (inputs / "notes.mp4").write_text("not a video at all, just text\n" * 20)
    whole = make_video(tmp_path / "whole.mp4", 96, 72, 40, fps=12, container_options={"movflags": "faststart"})
    (inputs / "cut.mp4").write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])  # index first: it opens, then ends early
    assert batch(inputs, "--output-dir", out, "--model", random_onnx, *ENGINE) == 1
    printed = capsys.readouterr()
    node = f"{platform.node()} {ray.get_runtime_context().get_node_id()[:8]}"
    rows = {line.split()[0]: line for line in printed.out.splitlines() if line.split() and line.split()[0].endswith(".mp4")}
    assert printed.out.splitlines()[0].split()[:5] == ["file", "status", "frames", "fps", "node"]
    assert set(rows) == {"a.mp4", "cut.mp4", "notes.mp4"} and all(node in row for row in rows.values())
    assert "batch-summary.json" not in printed.out and "batch-summary.json" in printed.err and "frame" in printed.err
    files = summary_of(out)
    assert files["a.mp4"]["status"] == "done" and (files["a.mp4"]["node"], files["a.mp4"]["node_id"]) == tuple(node.split())
    for key in ("notes.mp4", "cut.mp4"):
        error = files[key]["error"]
        assert files[key]["status"] == "failed" and key in error and error in rows[key], error
        assert "--source" not in error and "stage" not in error and "\n" not in error
    assert "truncated" in files["cut.mp4"]["error"]


def test_batch_help_takes_or_explains_every_single_run_flag() -> None:
    """One flag table: each single-run flag is the batch's own (same name, same config key) or said why not in --help."""
    help_text = " ".join(build_parser().format_help().split())
    for flag in FLAGS:
        name = flag.names[0]
        assert (name in SHARED_FLAGS) != (name in NOT_HERE), name
        assert f"{name} " in help_text or f"{name}," in help_text, name
    assert "--threads N" in help_text and "--threads is per actor" in help_text
    args = build_parser().parse_args(["in", "--output-dir", "out", "--threads-per-actor", "2"])  # the old name still works
    assert settings_from(args).model.threads == 2
    assert build_parser().parse_args(["in", "--output-dir", "out", "--threads", "3"]).threads == 3


def test_ray_address_help_says_which_forms_work() -> None:
    help_text = " ".join(build_parser().format_help().split())
    for needle in ("HOST:PORT = the head's address as `ray start --head` prints it", "ray://HOST:PORT = through Ray Client",
                   "RAY_AUTH_MODE=token"):
        assert needle in help_text


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def token_head():
    """A Ray head with token authentication (`ray start --head --block`, its own session and temp folder), stopped
    by signalling its own process group: never `ray stop`, which stops every Ray of the user on the machine."""
    port, token = free_port(), secrets.token_hex(16)
    temp = Path(tempfile.mkdtemp(prefix="rt", dir="/tmp"))  # short: Ray's socket paths live under it
    command = [str(Path(sys.executable).parent / "ray"), "start", "--head", "--block", f"--port={port}", f"--temp-dir={temp}",
               "--num-cpus=1", "--include-dashboard=false"]
    env = {**without_ray_auth(), "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": token}
    head = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 90
        while True:
            assert head.poll() is None and time.monotonic() < deadline, "the test's Ray head did not start"
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
                break
            time.sleep(0.5)
        yield f"127.0.0.1:{port}", token
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(head.pid, signal.SIGTERM)
        for process in wait_group_gone(head.pid, timeout=5):  # a test cluster: no need to wait for its drain
            process.kill()
        head.wait(timeout=30)
        shutil.rmtree(temp, ignore_errors=True)


@pytest.mark.parametrize("case", ["no token", "wrong token", "ray client"])
def test_joining_a_token_cluster_without_its_token_is_one_line_in_seconds(tmp_path, random_onnx, token_head, case) -> None:
    address, _ = token_head
    inputs = tmp_path / "clips"
    inputs.mkdir()
    make_video(inputs / "a.mp4", 64, 48, 2)
    env = without_ray_auth()
    if case == "wrong token":
        env.update(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=secrets.token_hex(16))
    if case == "ray client":
        if importlib.util.find_spec("grpc") is not None:
            pytest.skip("Ray Client is installed here: ray:// is Ray's to answer")
        address = f"ray://{address}"
    command = [sys.executable, "-m", "stream.batch", str(inputs), "--output-dir", str(tmp_path / "out"), "--model", str(random_onnx),
               *ENGINE, "--ray-address", address]
    start = time.monotonic()
    ran = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    took = time.monotonic() - start
    assert ran.returncode == 2 and ran.stdout == "", ran.stderr[-2000:]
    lines = ran.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and address in lines[0], ran.stderr[-2000:]
    assert took < 10, f"{took:.1f} s"
    if case == "ray client":
        assert "pip install 'ray[client]'" in lines[0] and "HOST:PORT" in lines[0]
    else:
        assert ("wants a token" if case == "no token" else "refused the token") in lines[0]
        assert "RAY_AUTH_MODE=token" in lines[0] and "RAY_AUTH_TOKEN" in lines[0]
    assert not (tmp_path / "out" / "batch-summary.json").exists()


def test_joining_a_token_cluster_with_the_variables_the_readme_names_runs_there(tmp_path, random_onnx, token_head) -> None:
    """RAY_AUTH_MODE=token and RAY_AUTH_TOKEN: the batch joins, says nothing of Ray's, and its table names the head's node."""
    address, token = token_head
    inputs = tmp_path / "clips"
    inputs.mkdir()
    make_video(inputs / "a.mp4", 64, 48, 3, fps=12)
    env = {**without_ray_auth(), "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": token}
    command = [sys.executable, "-m", "stream.batch", str(inputs), "--output-dir", str(tmp_path / "out"), "--model", str(random_onnx),
               *ENGINE, "--ray-address", address]
    ran = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=180)
    assert ran.returncode == 0, ran.stderr[-2000:]
    row = next(line for line in ran.stdout.splitlines() if line.startswith("a.mp4"))
    assert re.search(rf"\bdone\b.*\b{re.escape(platform.node())} [0-9a-f]{{8}}\b", row), row
    assert "Token authentication" not in ran.stderr and "gcs_client" not in ran.stderr
    assert len(read_video(tmp_path / "out" / "a.mp4")[0]) == 3


def test_a_fifo_a_dangling_link_and_overlong_names_are_failed_rows_never_a_stop(tmp_path, random_onnx, local_ray) -> None:
    """A named pipe is never opened (it would block the batch), a dangling link is not followed before Ray starts,
    a 251-character name is processed (its hidden folder's name shortened to fit), and one whose output name would
    pass 255 bytes fails alone: each is a row of the summary, the rest are written."""
    inputs, out = tmp_path / "clips", tmp_path / "out"
    inputs.mkdir()
    make_video(inputs / "a.mp4", 64, 48, 4)
    long_name = "L" * 247 + ".mp4"  # its hidden folder .NAME.<hex>.batch-partial would be 275 bytes
    make_video(inputs / long_name, 64, 48, 3)
    os.mkfifo(inputs / "pipe.mp4")
    (inputs / "gone.mp4").symlink_to(tmp_path / "nowhere.mp4")
    too_long = "z" * 252 + ".ts"  # 255 bytes, a valid name; its output z....mp4 would be 256
    (inputs / too_long).write_bytes(b"never read")
    proc = subprocess.run([sys.executable, "-m", "stream.batch", str(inputs), "--output-dir", str(out), "--model", str(random_onnx),
                           *ENGINE, "--ray-address", local_ray, "--actors", "1"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    files = summary_of(out)
    assert {key: entry["status"] for key, entry in files.items()} == {
        "a.mp4": "done", long_name: "done", "pipe.mp4": "failed", "gone.mp4": "failed", too_long: "failed"}
    assert len(read_video(out / "a.mp4")[0]) == 4 and len(read_video(out / long_name)[0]) == 3
    assert files["pipe.mp4"]["error"] == "pipe.mp4: a named pipe (FIFO), not a file"
    assert files["gone.mp4"]["error"].startswith("gone.mp4: a dangling symbolic link")
    assert "256-byte name" in files[too_long]["error"] and "limit of 255 bytes" in files[too_long]["error"]
    for key in ("pipe.mp4", "gone.mp4"):
        assert f"{key} failed: {files[key]['error']}" in proc.stderr
    visible = sorted(path.name for path in out.iterdir() if not path.name.startswith("."))
    assert visible == sorted(["a.mp4", long_name, "batch-manifest.json", "batch-summary.json"]) and not partial_folders(out)


def test_a_named_pipe_or_dangling_link_given_as_an_input_is_named_for_what_it_is(tmp_path, capsys) -> None:
    """Named on the command line, neither is "missing": each is a failed row saying what it is; with nothing
    else to do, Ray is never started and the model is never loaded."""
    os.mkfifo(tmp_path / "live.mkv")
    (tmp_path / "old.mp4").symlink_to(tmp_path / "deleted.mp4")
    out = tmp_path / "out"
    assert batch(tmp_path / "live.mkv", tmp_path / "old.mp4", "--output-dir", out, "--model", tmp_path / "unused.onnx", "-q") == 1
    files = summary_of(out)
    assert {key: entry["status"] for key, entry in files.items()} == {"live.mkv": "failed", "old.mp4": "failed"}
    assert files["live.mkv"]["error"] == "live.mkv: a named pipe (FIFO), not a file"
    assert files["old.mp4"]["error"].startswith("old.mp4: a dangling symbolic link")
    assert len([line for line in capsys.readouterr().err.splitlines() if line.startswith("error: ")]) == 2
