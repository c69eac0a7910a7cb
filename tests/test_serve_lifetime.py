"""``--serve`` outlives its source: the page keeps the last frame until Ctrl-C, and a folder of photos gets one server.

"Finished" (the source ended) and "cancelled" (Ctrl-C) are different signals: these run the
real command in a subprocess, as a user would, and send it a real SIGINT.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import cv2
import numpy as np

from tests.media import make_video

ROOT = Path(__file__).resolve().parents[1]
DEADLINE_S = 60.0
URL_LINE = re.compile(r"serving the live view at (\S+)")


class Served:
    """The command's stderr, read line by line in a thread, so a test can wait for a line."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.process = process
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.lines.append(line.rstrip("\n"))

    def wait_for(self, pattern: str) -> re.Match[str]:
        deadline = time.monotonic() + DEADLINE_S
        while time.monotonic() < deadline:
            for line in list(self.lines):
                if match := re.search(pattern, line):
                    return match
            if self.process.poll() is not None:
                time.sleep(0.2)  # the reader may still hold the last lines
                for line in list(self.lines):
                    if match := re.search(pattern, line):
                        return match
                raise AssertionError(f"exited {self.process.returncode} before {pattern!r}: {self.lines}")
            time.sleep(0.05)
        raise AssertionError(f"gave up waiting for {pattern!r}: {self.lines}")

    def finish_reading(self) -> None:
        """After the process has exited: every line it wrote has been read."""
        self._reader.join(10)

    def count(self, pattern: str) -> int:
        return sum(1 for line in self.lines if re.search(pattern, line))


@contextmanager
def depth_stream(*argv: str, cache: Path) -> Iterator[Served]:
    env = {**os.environ, "DEPTH_STREAM_CACHE": str(cache)}
    process = subprocess.Popen([sys.executable, "run_stream.py", *argv], cwd=ROOT, env=env, stderr=subprocess.PIPE,
                               stdout=subprocess.DEVNULL, text=True)
    try:
        yield Served(process)
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(10)


def get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())


def upload_photo(url: str) -> dict:
    """POST a photo to the page's upload route (multipart, as the browser sends it); its JSON answer."""
    ok, data = cv2.imencode(".png", np.full((48, 64, 3), 90, np.uint8))
    assert ok
    boundary = "depthstreamtest"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"up.png\"\r\n"
            f"Content-Type: image/png\r\n\r\n").encode() + data.tobytes() + f"\r\n--{boundary}--\r\n".encode()
    request = urllib.request.Request(url + "api/photo", data=body, method="POST",
                                     headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    with urllib.request.urlopen(request, timeout=DEADLINE_S) as response:
        return json.loads(response.read())


def stays_up_then_ctrl_c(served: Served, upload: bool = False) -> tuple[dict, int]:
    """After the source's end is announced, the page still answers a second later (and takes an
    upload when asked); Ctrl-C then exits."""
    url = served.wait_for(URL_LINE.pattern).group(1).replace("localhost", "127.0.0.1")
    served.wait_for("the source has ended")
    time.sleep(1.5)  # the old code had shut the server down by now
    assert served.process.poll() is None, served.lines
    status = get_json(url + "api/status")
    with urllib.request.urlopen(url + "api/snapshot.png", timeout=10) as response:
        snapshot = cv2.imdecode(np.frombuffer(response.read(), np.uint8), cv2.IMREAD_COLOR)
    assert snapshot is not None and snapshot.size > 0  # the last frame is still shown
    if upload:
        answer = upload_photo(url)
        assert {"side-by-side.png", "depth16.png", "cloud.ply"} <= set(answer["files"]), answer
    served.process.send_signal(signal.SIGINT)
    return status, served.process.wait(DEADLINE_S)


def test_page_stays_up_after_a_recorded_video_ends_until_ctrl_c(tmp_path, random_onnx, model_cache) -> None:
    clip = make_video(tmp_path / "clip.mp4", 96, 64, 12, fps=12)
    with depth_stream("--source", str(clip), "--serve", "127.0.0.1:0", "--model", str(random_onnx), "--engine", "onnxruntime",
                      "--precision", "fp32", cache=model_cache) as served:
        status, code = stays_up_then_ctrl_c(served, upload=True)
    assert code == 130, served.lines
    assert status["frames_published"] == 12, status


def test_page_stays_up_after_a_photo_until_ctrl_c(tmp_path, random_onnx, model_cache) -> None:
    photo = tmp_path / "photo.png"
    cv2.imwrite(str(photo), np.full((48, 64, 3), 120, np.uint8))
    with depth_stream("--source", str(photo), "--serve", "127.0.0.1:0", "--model", str(random_onnx), "--engine", "onnxruntime",
                      "--precision", "fp32", cache=model_cache) as served:
        _, code = stays_up_then_ctrl_c(served)
    assert code == 130, served.lines


def test_a_folder_of_photos_with_serve_starts_one_server(tmp_path, random_onnx, model_cache) -> None:
    photos, out = tmp_path / "photos", tmp_path / "out"
    photos.mkdir()
    for number in range(3):
        cv2.imwrite(str(photos / f"p{number}.png"), np.full((48, 64, 3), 60 * number, np.uint8))
    with depth_stream("--source", str(photos), "--output", f"{out}/", "--serve", "127.0.0.1:0", "--model", str(random_onnx),
                      "--engine", "onnxruntime", "--precision", "fp32", cache=model_cache) as served:
        _, code = stays_up_then_ctrl_c(served)
    assert code == 130, served.lines
    served.finish_reading()
    assert served.count(URL_LINE.pattern) == 1, served.lines
    assert "stopped by SIGINT" in served.lines[-1], served.lines
    assert sorted(path.name for path in out.iterdir()) == ["p0.png", "p1.png", "p2.png"]
