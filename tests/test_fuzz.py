"""A seeded fuzz pass (issue 23): hostile files through every way in, each run judged the same way.

A small corpus is made here from one seed: damaged videos (cut short, random bytes, a
flipped header, bytes flipped in the data), damaged photos (cut short, headers declaring
gigapixels over a few KB, random bytes behind an image extension, empty files), hostile
configs (binary, UTF-16, Latin-1, "billion laughs" aliases, deep nesting, a 5001-digit
number, a pipe) and odd paths (a pipe, a folder, a dangling symlink, a device, a colon
name, a long name). Each goes through the single run, a folder of photos, a batch on a
local Ray and the upload API of a running server, every process under an address-space
limit (``RLIMIT_AS``) and a timeout. For each run: no traceback, no hang, an exit code the
README documents (0, 1, 2; a refusal is 2), at most one ``error:`` line, every file under a
final name decodes, no hidden temporary file or partial folder is left, and the server
still answers after each upload.

Outputs are fuzzed too: two outputs on one file, and an output whose derived probe CSV name
passes the file system's limit (both refused before work); the batch also gets a named pipe
and a dangling symlink among its inputs (failed rows, never a stop). A full disk has its own
test (``tests/test_sink_crash.py``).
"""

from __future__ import annotations

import json
import os
import re
import resource
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import av
import cv2
import numpy as np
from plyfile import PlyData, PlyParseError

from stream.batch.lock import LOCK_NAME
from tests.media import make_video
from tests.test_hostile_input import jpeg_declaring, png_declaring

ROOT = Path(__file__).resolve().parent.parent
SEED = 23
MEMORY_LIMIT = 4 * 1024**3  # bytes of address space per process: a bomb decoded would need far more
TIMEOUT = 60.0  # seconds a single run may take before it counts as a hang
PARALLEL = 2  # runs at once: this machine's cores
TRACEBACK = "Traceback (most recent call last)"
ENGINE = ("--engine", "onnxruntime", "--precision", "fp32", "--threads", "1")
VIDEO_SUFFIXES = {".mp4", ".mkv", ".mov", ".avi", ".webm"}
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff"}
FOLDER_ONLY = {"bomb-1bit.png", "random.webp", "random.tif", "empty.png"}  # alike their kin: no single run of their own (time)
REFUSED, DONE, EITHER = frozenset({2}), frozenset({0}), frozenset({0, 2})  # README, "What happens when..."


@dataclass
class Case:
    """One run of the single-run command: its arguments past the model and the exit codes the README allows."""

    name: str
    args: list[str]
    exits: frozenset[int]
    output: str = "out.mp4"
    extra: list[str] = field(default_factory=list)


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


def _env() -> dict[str, str]:
    """This environment (with the session's model cache, set by conftest) and the worktree on the path."""
    return {**os.environ, "PYTHONPATH": str(ROOT)}


# -- the corpus ---------------------------------------------------------------------------

def flip_bytes(data: bytes, rng: np.random.Generator, start: int, end: int, count: int) -> bytes:
    """``count`` bytes between ``start`` and ``end`` replaced by their bitwise complement (never a no-op)."""
    out = bytearray(data)
    for index in rng.choice(np.arange(start, end), size=min(count, end - start), replace=False):
        out[int(index)] ^= 0xFF
    return bytes(out)


def damaged_videos(folder: Path, rng: np.random.Generator) -> dict[str, frozenset[int]]:
    """Videos cut short, random, with a flipped header, with flipped data; the exit codes each may give."""
    made: dict[str, frozenset[int]] = {}
    for suffix in (".mp4", ".mkv"):
        whole = make_video(folder / f"whole{suffix}", 64, 48, 8, fps=8).read_bytes()
        (folder / f"whole{suffix}").unlink()
        (folder / f"cut{suffix}").write_bytes(whole[: len(whole) // 2])
        made[f"cut{suffix}"] = REFUSED
        (folder / f"header{suffix}").write_bytes(flip_bytes(whole, rng, 0, 48, 8))
        made[f"header{suffix}"] = EITHER  # some header bytes are not needed to decode
        (folder / f"flipped{suffix}").write_bytes(flip_bytes(whole, rng, len(whole) // 4, len(whole) * 3 // 4, 60))
        made[f"flipped{suffix}"] = EITHER  # damage is one line and 2; bytes FFmpeg never reads are no damage
        (folder / f"random{suffix}").write_bytes(rng.integers(0, 256, 3000, dtype=np.uint8).tobytes())
        made[f"random{suffix}"] = REFUSED
    return made


def damaged_photos(folder: Path, rng: np.random.Generator) -> dict[str, frozenset[int]]:
    """Photos cut short, bombs declaring gigapixels, random bytes behind image names, empty files; and one good photo."""
    made: dict[str, frozenset[int]] = {}
    image = cv2.GaussianBlur(rng.integers(0, 256, (48, 64, 3), dtype=np.uint8), (9, 9), 3)
    for suffix in (".jpg", ".png"):
        ok, data = cv2.imencode(suffix, image)
        assert ok
        (folder / f"cut{suffix}").write_bytes(data.tobytes()[: len(data) // 2])
        made[f"cut{suffix}"] = REFUSED
    assert cv2.imwrite(str(folder / "good.jpg"), image)
    made["good.jpg"] = DONE
    png_declaring(folder / "bomb.png", 30000, 30000)
    png_declaring(folder / "bomb-1bit.png", 60000, 60000, depth=1)
    jpeg_declaring(folder / "bomb.jpg", 65000, 65000)
    made.update({"bomb.png": REFUSED, "bomb-1bit.png": REFUSED, "bomb.jpg": REFUSED})
    for suffix in (".jpg", ".png", ".webp", ".tif"):
        (folder / f"random{suffix}").write_bytes(rng.integers(0, 256, 2000, dtype=np.uint8).tobytes())
        made[f"random{suffix}"] = REFUSED
    for suffix in (".jpg", ".png"):
        (folder / f"empty{suffix}").write_bytes(b"")
        made[f"empty{suffix}"] = REFUSED
    return made


def hostile_configs(folder: Path, rng: np.random.Generator) -> list[Path]:
    """Config files that crashed or exhausted the reader: each must be one line and exit 2."""
    files = {
        "binary.yaml": rng.integers(0, 256, 4000, dtype=np.uint8).tobytes(),
        "utf16.yaml": "max_frames: 1\n".encode("utf-16"),
        "latin1.yaml": "# caf\xe9 settings\nmax_frames: 1\n".encode("latin-1"),
        "aliases.yaml": ("a: &a [" + ",".join(["x"] * 10) + "]\n"
                         + "".join(f"{chr(98 + i)}: &{chr(98 + i)} [" + ",".join([f"*{chr(97 + i)}"] * 10) + "]\n"
                                   for i in range(8))).encode(),
        "nested.yaml": b"max_frames: " + b"[" * 50_000,
        "bigint.yaml": b"max_frames: " + b"9" * 5001 + b"\n",
    }
    for name, data in files.items():
        (folder / name).write_bytes(data)
    os.mkfifo(folder / "pipe.yaml")
    return [folder / name for name in files] + [folder / "pipe.yaml"]


def odd_paths(folder: Path, good_video: Path) -> dict[str, frozenset[int]]:
    """A pipe, a folder and a dangling symlink with a video's name; a colon name and a long name holding a good video."""
    os.mkfifo(folder / "pipe.mp4")
    (folder / "folder.mp4").mkdir()
    (folder / "gone.mp4").symlink_to(folder / "never-there.mp4")
    data = good_video.read_bytes()
    (folder / "take:2.mp4").write_bytes(data)
    (folder / ("v" * 240 + ".mp4")).write_bytes(data)
    return {"pipe.mp4": REFUSED, "folder.mp4": REFUSED, "gone.mp4": REFUSED, "take:2.mp4": DONE, "v" * 240 + ".mp4": DONE}


def single_run_cases(corpus: Path) -> list[Case]:
    """Every corpus entry as ``--source`` (photos to a photo and a 16-bit depth, videos to a video and depth),
    every hostile config and a 50,000-deep ``--set``."""
    rng = np.random.default_rng(SEED)
    videos = damaged_videos(corpus, rng)
    photos = damaged_photos(corpus, rng)
    good = make_video(corpus / "good.mp4", 64, 48, 4, fps=8)
    videos["good.mp4"] = DONE
    configs = hostile_configs(corpus, rng)
    videos.update(odd_paths(corpus, good))
    cases = [Case(f"video {name}", ["--source", str(corpus / name)], exits, extra=["--depth-output", "depth.mkv"])
             for name, exits in videos.items()]
    cases.append(Case("video /dev/zero", ["--source", "/dev/zero"], REFUSED))
    cases += [Case(f"photo {name}", ["--source", str(corpus / name)], exits, output="out.png", extra=["--depth-output", "depth.png"])
              for name, exits in photos.items() if name not in FOLDER_ONLY]
    cases += [Case(f"config {path.name}", ["--source", str(good), "--config", str(path)], REFUSED) for path in configs]
    cases.append(Case("--set nested", ["--source", str(good), "--set", "max_frames=" + "[" * 50_000], REFUSED))
    cases.append(Case("outputs on one file", ["--source", str(good)], REFUSED, output="same.mkv", extra=["--depth-output", "same.mkv"]))
    cases.append(Case("derived name too long", ["--source", str(good), "--probe", "1,1"], REFUSED, output="o" * 247 + ".mp4"))
    return cases


# -- judging a run ------------------------------------------------------------------------

def decodes(path: Path) -> bool:
    """A file under a final name is whole: a video with at least one frame, an image, JSON."""
    suffix = path.suffix.lower()
    try:
        if suffix in VIDEO_SUFFIXES:
            with av.open(str(path)) as container:
                return sum(1 for _ in container.decode(video=0)) > 0
        if suffix in IMAGE_SUFFIXES:
            return cv2.imread(str(path), cv2.IMREAD_UNCHANGED) is not None
        if suffix == ".ply":
            return len(PlyData.read(str(path))["vertex"]) > 0
        if suffix == ".json":
            json.loads(path.read_text())
            return True
    except (av.FFmpegError, ValueError, OSError, PlyParseError, KeyError):
        return False
    return False


def judge(what: str, code: int | None, stderr: str, exits: frozenset[int], outputs: Path, one_run: bool = True) -> list[str]:
    """What is wrong with one run (empty: nothing): the checks the issue's "Done when" lists.

    ``one_run``: a refusal (exit 2) is exactly one ``error:`` line; a folder of photos or a
    batch instead says ``warning: NAME failed`` per file and sums up at the end."""
    problems = []
    if code is None:
        problems.append("hung (killed after the timeout)")
    elif code not in exits:
        problems.append(f"exit {code}, expected one of {sorted(exits)}")
    if TRACEBACK in stderr:
        problems.append("a traceback")
    errors = [line for line in stderr.splitlines() if line.startswith("error:")]
    if len(errors) > 1:
        problems.append(f"{len(errors)} error lines")
    if one_run and code == 2 and len(errors) != 1:
        problems.append("refused without its one error line")
    if outputs.exists():
        for path in outputs.rglob("*"):
            if path.name == LOCK_NAME:
                continue  # the batch's lock: an empty file held with flock, there on purpose
            if path.name.startswith("."):
                problems.append(f"left {path.relative_to(outputs)} behind")
            elif path.is_file() and not decodes(path):
                problems.append(f"{path.relative_to(outputs)} is under its final name but does not decode")
    return [f"{what}: {problem} (stderr: {stderr.strip()[-600:]!r})" for problem in problems]


@dataclass
class Run:
    """One process of the pass: its name in a failure, its command, where its stderr goes, how long it may take."""

    name: str
    argv: list[str]
    log: Path
    timeout: float = TIMEOUT


def run_all(runs: list[Run], env: dict[str, str]) -> dict[str, tuple[int | None, str]]:
    """The runs, ``PARALLEL`` at a time, each under the memory limit: (exit code, or None if it hung; stderr) by name.

    Processes are started from this thread only (``preexec_fn`` is not safe beside threads)
    and their stderr goes to a file, so no reader thread is needed.
    """
    results: dict[str, tuple[int | None, str]] = {}
    waiting = list(runs)
    running: list[tuple[Run, subprocess.Popen, float]] = []
    while waiting or running:
        while waiting and len(running) < PARALLEL:
            run = waiting.pop(0)
            with run.log.open("w") as stderr:
                process = subprocess.Popen(run.argv, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                           stderr=stderr, preexec_fn=_limit_memory, start_new_session=True)
            running.append((run, process, time.monotonic() + run.timeout))
        for entry in list(running):
            run, process, deadline = entry
            code = process.poll()
            if code is None and time.monotonic() < deadline:
                continue
            if code is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(10)
            results[run.name] = (code, run.log.read_text(errors="replace"))
            running.remove(entry)
        time.sleep(0.02)
    return results


def hidden_names(folder: Path) -> set[str]:
    return {path.name for path in folder.iterdir() if path.name.startswith(".")}


# -- the pass -----------------------------------------------------------------------------

def command(*args: str | Path, model: Path) -> list[str]:
    """The single-run command as a user types it, headless, on a fixed engine (no measuring in a test)."""
    return [sys.executable, str(ROOT / "run_stream.py"), *map(str, args), "--model", str(model), "--headless", *ENGINE,
            "--set", "display.progress=false"]


def single_runs(tmp_path: Path, cases: list[Case], model: Path) -> list[Run]:
    runs = []
    for index, case in enumerate(cases):
        out = tmp_path / "out" / f"{index:02d}"
        extra = [part if not part.endswith((".mkv", ".png")) else str(out / part) for part in case.extra]
        runs.append(Run(case.name, command(*case.args, "--output", out / case.output, *extra, model=model),
                        tmp_path / f"{index:02d}.log"))
    return runs


def photo_folder_run(tmp_path: Path, model: Path) -> Run:
    """Every photo of the corpus in one folder, with a good one under a colon name."""
    corpus, photos = tmp_path / "corpus", tmp_path / "photos"
    photos.mkdir()
    for path in corpus.iterdir():
        if path.suffix in IMAGE_SUFFIXES and path.is_file():
            (photos / path.name).write_bytes(path.read_bytes())
    (photos / "take:1.png").write_bytes((corpus / "good.jpg").read_bytes())
    return Run("photo folder", command("--source", photos, "--output", f"{tmp_path / 'out' / 'photos'}/", model=model),
               tmp_path / "photos.log")


BATCH = ("good.mp4", "cut.mp4", "random.mkv", "flipped.mp4", "bomb.png", "empty.jpg", "random.webp")


def batch_run(tmp_path: Path, model: Path) -> Run:
    """A handful of entries (a local Ray takes seconds to start); run beside the single runs."""
    inputs = tmp_path / "batch-in"
    inputs.mkdir()
    for name in BATCH:
        (inputs / name).write_bytes((tmp_path / "corpus" / name).read_bytes())
    os.mkfifo(inputs / "pipe.mp4")  # never opened: a failed row naming what it is
    (inputs / "gone.mp4").symlink_to(inputs / "never-there.mp4")
    return Run("batch", [sys.executable, "-m", "stream.batch", str(inputs), "--output-dir", str(tmp_path / "batch-out"),
                         "--model", str(model), *ENGINE[:4], "--actors", "1"], tmp_path / "batch.log", timeout=3 * TIMEOUT)


def judge_photo_folder(code: int | None, stderr: str, out: Path) -> list[str]:
    """Exit 2 (a folder with a broken photo), the two good photos written, the summary last."""
    problems = judge("photo folder", code, stderr, REFUSED, out, one_run=False)
    written = sorted(path.name for path in out.iterdir()) if out.exists() else []
    if written != ["good.jpg", "take:1.png"]:
        problems.append(f"photo folder: wrote {written}, expected the two good photos")
    if not stderr.strip().splitlines()[-1:] or not stderr.strip().splitlines()[-1].startswith("done: "):
        problems.append(f"photo folder: no summary line last ({stderr[-300:]!r})")
    return problems


def judge_batch(code: int | None, stderr: str, out: Path) -> list[str]:
    """Exit 1 (a file failed), the good one done, every bad one a failed row naming itself in one line."""
    problems = judge("batch", code, stderr, frozenset({1}), out, one_run=False)
    summary = json.loads((out / "batch-summary.json").read_text()) if (out / "batch-summary.json").exists() else {"files": []}
    statuses = {entry["key"]: entry["status"] for entry in summary["files"]}
    if statuses.get("good.mp4") != "done" or set(statuses) != {*BATCH, "pipe.mp4", "gone.mp4"}:
        problems.append(f"batch: summary {statuses}")
    for entry in summary["files"]:
        if entry["status"] == "failed" and ("\n" in entry["error"] or entry["key"] not in entry["error"]):
            problems.append(f"batch: {entry['key']} failed with {entry['error']!r}")
    return problems


def runs_through_the_commands(tmp_path: Path, model: Path) -> list[str]:
    """The single runs, the photo folder and the batch, two at a time; every run judged."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    cases = single_run_cases(corpus)
    hidden_before = hidden_names(corpus)
    runs = [batch_run(tmp_path, model), photo_folder_run(tmp_path, model), *single_runs(tmp_path, cases, model)]
    results = run_all(runs, _env())
    problems = []
    for index, case in enumerate(cases):
        code, stderr = results[case.name]
        out = tmp_path / "out" / f"{index:02d}"
        problems += judge(case.name, code, stderr, case.exits, out)
        if code == 0 and not (out / case.output).is_file():
            problems.append(f"{case.name}: exit 0 without its output {case.output}")
    problems += judge_photo_folder(*results["photo folder"], tmp_path / "out" / "photos")
    problems += judge_batch(*results["batch"], tmp_path / "batch-out")
    if hidden_names(corpus) != hidden_before:
        problems.append(f"the corpus folder gained {sorted(hidden_names(corpus) - hidden_before)}")
    return problems


def upload(url: str, route: str, path: Path) -> tuple[int, dict]:
    """POST one file as the page does (multipart); the status and the JSON answer."""
    boundary = "fuzzboundary23"
    body = (f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{path.name}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n").encode() + path.read_bytes() + f"\r\n--{boundary}--\r\n".encode()
    request = urllib.request.Request(url + route, data=body, method="POST",
                                     headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
            status, answer = response.status, response.read()
    except urllib.error.HTTPError as refused:
        status, answer = refused.code, refused.read()
    try:
        return status, json.loads(answer)
    except ValueError:
        return status, {"error": f"not JSON: {answer[:200]!r}"}


def healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "api/jobs", timeout=10) as response:
            return response.status == 200
    except OSError:
        return False


def web_uploads(tmp_path: Path, model: Path) -> list[str]:
    """Every photo and video of the corpus posted to a running server, each to both routes."""
    corpus, folder = tmp_path / "corpus", tmp_path / "uploads"
    folder.mkdir()
    log = tmp_path / "server.log"
    command = [sys.executable, str(ROOT / "run_stream.py"), "--source", str(corpus / "good.jpg"), "--serve", "127.0.0.1:0",
               "--model", str(model), "--headless", *ENGINE, "--set", "display.progress=false", "--set", f"uploads.folder={folder}"]
    with log.open("w") as stderr:
        server = subprocess.Popen(command, cwd=ROOT, env=_env(), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                  stderr=stderr, preexec_fn=_limit_memory, start_new_session=True)
    problems: list[str] = []
    try:
        deadline = time.monotonic() + TIMEOUT
        while not (found := re.search(r"serving the live view at (\S+)", log.read_text())):
            assert server.poll() is None and time.monotonic() < deadline, log.read_text()[-2000:]
            time.sleep(0.05)
        url = found.group(1).replace("localhost", "127.0.0.1")
        files = sorted(path for path in corpus.iterdir()
                       if path.is_file() and not path.is_symlink() and path.suffix in IMAGE_SUFFIXES | VIDEO_SUFFIXES
                       and len(path.name) < 100)  # a long upload name derives long result names: issue 23 item 5
        for path in files:
            for route in ("api/photo", "api/video"):
                status, body = upload(url, route, path)
                if status >= 400 and ("\n" in body.get("error", "\n") or str(folder) in body["error"]):
                    problems.append(f"upload {path.name} to {route}: {status} {body}")
                elif status not in (200, 202, 400, 413, 415):
                    problems.append(f"upload {path.name} to {route}: HTTP {status} {body}")
                elif status == 200:
                    problems += offered_files_decode(url, f"{path.name} to {route}", body["files"].values(), tmp_path / "got")
                elif status == 202:
                    problems += finished_job(url, path.name, body["id"], tmp_path / "got")
                if not healthy(url):
                    problems.append(f"the server does not answer after {path.name} to {route}")
        server.send_signal(signal.SIGINT)
        code: int | None = server.wait(TIMEOUT)
    except subprocess.TimeoutExpired:
        code = None
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(10)
    problems += judge("server", code, log.read_text(errors="replace"), frozenset({130}), folder)
    left = [path for path in folder.rglob("*") if path.is_file()]
    if left:
        problems.append(f"server: left {left} in its uploads folder")
    return problems


def offered_files_decode(url: str, what: str, links: Iterable[str], folder: Path) -> list[str]:
    """Every result the server offers is whole: downloaded and decoded back."""
    folder.mkdir(exist_ok=True)
    problems = []
    for link in links:
        got = folder / link.rsplit("/", 1)[1]
        with urllib.request.urlopen(url + link.lstrip("/"), timeout=10) as response:
            got.write_bytes(response.read())
        if not decodes(got):
            problems.append(f"upload {what}: {got.name} is offered but does not decode")
        got.unlink()
    return problems


def finished_job(url: str, name: str, job: str, folder: Path) -> list[str]:
    """A video job ends in time: done, or failed with one line naming the user's file (never a path); what it offers decodes."""
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        with urllib.request.urlopen(f"{url}api/jobs/{job}", timeout=10) as response:
            state = json.loads(response.read())
        if state["state"] in ("done", "failed"):
            error = state.get("error") or ""
            if "\n" in error or "/" in error:
                return [f"job {name}: {error!r}"]
            return offered_files_decode(url, f"{name} (job {state['state']})", [state["url"]] if state["url"] else [], folder)
        time.sleep(0.05)
    return [f"job {name} still {state['state']} after {TIMEOUT} s"]


def test_fuzz_corpus_through_the_single_run_a_photo_folder_a_batch_and_the_upload_api(tmp_path, random_onnx) -> None:
    problems = runs_through_the_commands(tmp_path, random_onnx)
    problems += web_uploads(tmp_path, random_onnx)
    assert not problems, "\n".join(problems)
