"""Probes: the depth at chosen pixels, in a CSV (headless) and under the mouse (the window).

The estimator here has a depth known in advance (a function of the pixel and of the frame
number), so every CSV value can be checked exactly; the window is driven by the fake GUI
of ``tests/test_window.py`` (one real window under Xvfb, clicked through XTest).
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import textwrap
import threading
import time
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
import pytest

from stream.core.errors import ConfigError
from stream.core.frames import DepthFrame, Frame, Normalised
from stream.core.protocols import DepthResult
from stream.gui.window import MailboxSink, Window
from stream.pipeline.stages import Pipeline
from stream.pipeline.stats import PipelineOptions
from stream.runtime.run import run
from stream.view.normalize import PerFrame
from stream.view.probe import MAX_PROBES, Probes, ViewGeometry
from tests.media import make_video, pattern_frame
from tests.test_app import settings_for
from tests.test_window import FakeGui, PatternSource

ROOT = Path(__file__).resolve().parents[1]
NO_MODEL = Path("/nonexistent/model.onnx")  # the estimator is injected; nothing may load a model


def known_depth(width: int, height: int, call: int) -> np.ndarray:
    """Depth of the ``call``-th frame: rises to the right and downwards, and with the frame number."""
    xs = np.arange(width, dtype=np.float32)[None, :]
    ys = np.arange(height, dtype=np.float32)[:, None]
    return (xs * (1.0 + 0.25 * call) + ys * 0.5 + 3.0).astype(np.float32)


class KnownDepth:
    """An estimator whose output is ``known_depth`` (frames arrive in order in file mode)."""

    def estimate(self, image):

        return DepthResult(self.predict(image))

    def __init__(self, stop_after: int | None = None, stop: threading.Event | None = None) -> None:
        self.calls = 0
        self.stop_after, self.stop = stop_after, stop

    def predict(self, image: np.ndarray) -> np.ndarray:
        depth = known_depth(image.shape[1], image.shape[0], self.calls)
        self.calls += 1
        if self.stop is not None and self.stop_after is not None and self.calls >= self.stop_after:
            self.stop.set()  # what SIGINT does: the shared stop event
        return depth


def read_csv(path: Path) -> tuple[list[str], list[list[str]]]:
    with open(path, newline="") as handle:
        rows = list(csv.reader(handle))
    return rows[0], rows[1:]


def leftovers(folder: Path) -> list[str]:
    return [p.name for p in folder.iterdir() if p.name.endswith(".part")]


def test_csv_has_one_row_per_frame_with_the_depth_at_each_probe(tmp_path: Path) -> None:
    clip = make_video(tmp_path / "in.mp4", 64, 48, 10, fps=25)
    points = [[3, 4], [63, 47], [20, 10]]
    csv_path = tmp_path / "values.csv"
    settings = settings_for(str(clip), NO_MODEL, probe={"points": points, "csv": csv_path},
                            display={"normalize": "frame", "progress": False})
    result = run(settings, estimator=KnownDepth())
    assert result.exit_code == 0
    header, rows = read_csv(csv_path)
    assert header == ["frame", "pts_seconds", "x3_y4_norm", "x3_y4_raw", "x63_y47_norm", "x63_y47_raw",
                      "x20_y10_norm", "x20_y10_raw"]
    assert len(rows) == 10
    for number, row in enumerate(rows):
        assert int(row[0]) == number and float(row[1]) == pytest.approx(number / 25)
        depth = known_depth(64, 48, number)
        lo, hi = float(depth.min()), float(depth.max())
        for i, (x, y) in enumerate(points):
            norm, raw = float(row[2 + 2 * i]), float(row[3 + 2 * i])
            assert raw == pytest.approx(float(depth[y, x]), rel=1e-6)
            assert norm == pytest.approx((raw - lo) / (hi - lo), abs=1e-5)  # per-frame min-max, as asked
    assert all(float(row[4]) == pytest.approx(1.0) for row in rows)  # the far corner is the nearest pixel
    assert leftovers(tmp_path) == []


def test_csv_goes_beside_the_output_and_markers_are_in_the_video(tmp_path: Path) -> None:
    from tests.media import read_video

    clip = make_video(tmp_path / "in.mp4", 160, 120, 6, fps=25)
    out = tmp_path / "out.mp4"
    plain = tmp_path / "plain.mp4"
    quiet = {"overlay": False, "progress": False}  # no status text: only the probe differs
    run(settings_for(str(clip), NO_MODEL, output=plain, display=quiet), estimator=KnownDepth())
    run(settings_for(str(clip), NO_MODEL, output=out, display=quiet, probe={"points": [[40, 60]]}), estimator=KnownDepth())
    _, rows = read_csv(tmp_path / "out.probe.csv")
    assert len(rows) == 6
    marked, unmarked = read_video(out)[0][3], read_video(plain)[0][3]
    diff = np.abs(marked.astype(int) - unmarked.astype(int)).sum(axis=2) > 60
    for cx in (40, 160 + 40):  # the marker on the picture and on the depth half
        assert diff[55:66, cx - 6:cx + 7].any()
    assert not diff[:40, 100:160].any()  # nothing drawn far from it


def test_csv_without_output_goes_to_the_current_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    clip = make_video(tmp_path / "in.mp4", 64, 48, 4, fps=25)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    run(settings_for(str(clip), NO_MODEL, probe={"points": [[1, 1]]}), estimator=KnownDepth())
    assert len(read_csv(work / "probe.csv")[1]) == 4


def test_a_stopped_live_run_keeps_its_rows_under_the_final_name(tmp_path: Path) -> None:
    """Ctrl-C sets the stop event; the CSV is still closed and renamed, with a row per frame shown."""
    stop = threading.Event()
    csv_path = tmp_path / "live.csv"
    settings = settings_for("synthetic:64x48", NO_MODEL, mode="live", probe={"points": [[5, 5]], "csv": csv_path})
    result = run(settings, estimator=KnownDepth(stop_after=8, stop=stop), cancel=stop)
    _, rows = read_csv(csv_path)
    assert len(rows) == result.stats.displayed >= 1
    assert [int(row[0]) for row in rows] == sorted(int(row[0]) for row in rows)
    assert leftovers(tmp_path) == []


def test_probe_outside_the_frame_is_one_line_before_the_model_loads(tmp_path: Path) -> None:
    clip = make_video(tmp_path / "in.mp4", 64, 48, 3, fps=25)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, str(ROOT / "run_stream.py"), "--source", str(clip), "--headless",
                           "--model", str(NO_MODEL), "--probe", "10,10", "--probe", "64,5",
                           "--probe-csv", str(tmp_path / "p.csv")],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: --probe 64,5") and "64x48" in lines[0], proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mp4"]  # no CSV, no temporary file


def test_probe_csv_mistakes_stop_the_run_before_it_starts(tmp_path: Path) -> None:
    clip = make_video(tmp_path / "in.mp4", 64, 48, 3, fps=25)
    with pytest.raises(ConfigError, match="--probe X,Y"):
        run(settings_for(str(clip), NO_MODEL, probe={"csv": tmp_path / "p.csv"}), estimator=KnownDepth())
    with pytest.raises(Exception, match="is a folder"):
        run(settings_for(str(clip), NO_MODEL, probe={"points": [[1, 1]], "csv": tmp_path}), estimator=KnownDepth())
    with pytest.raises(Exception, match="same file as"):
        run(settings_for(str(clip), NO_MODEL, probe={"points": [[1, 1]], "csv": clip}), estimator=KnownDepth())
    assert clip.stat().st_size > 0 and leftovers(tmp_path) == []


# -- the window ----------------------------------------------------------------------


def depth_item(index: int, width: int, height: int, picture: int | None = None) -> tuple[DepthFrame, Normalised]:
    image = pattern_frame(index if picture is None else picture, width, height)
    frame = Frame(image, index, pts=index, time_base=Fraction(1, 25))
    item = DepthFrame(frame, known_depth(width, height, index))
    return item, PerFrame()(item.depth)


def marker_mask(marked: np.ndarray, plain: np.ndarray) -> np.ndarray:
    return np.abs(marked.astype(int) - plain.astype(int)).sum(axis=2) > 0


@pytest.mark.parametrize("size,max_width", [((160, 120), None), ((640, 480), 640)])
def test_a_click_on_either_half_probes_the_same_source_pixel(size, max_width) -> None:
    width, height = size
    probes = Probes()
    gui = FakeGui()
    window = Window("test", gui=gui, screen=(1920, 1080), probes=probes)
    window.open()
    pipeline = Pipeline(PatternSource(0), KnownDepth(), [], PipelineOptions(live=False, overlay=False, max_width=max_width),
                        probes=probes)
    plain_pipeline = Pipeline(PatternSource(0), KnownDepth(), [], PipelineOptions(live=False, overlay=False,
                                                                                 max_width=max_width))
    item, normalised = depth_item(0, width, height)
    view = pipeline.compose(item, normalised)  # the display thread composes; the window shows it
    window.show(view)
    half_w = view.shape[1] // 2
    scale = half_w / width  # 1, or 0.5 when the view is scaled down to max_width
    gui.on_mouse(cv2.EVENT_LBUTTONDOWN, 50, 30, 0, None)
    gui.on_mouse(cv2.EVENT_LBUTTONDOWN, half_w + 50, 30, 0, None)
    expected = (int(50.5 / scale), int(30.5 / scale))
    assert probes.points() == (expected, expected)

    item, normalised = depth_item(1, width, height)
    marked, plain = pipeline.compose(item, normalised), plain_pipeline.compose(item, normalised)
    drawn = marker_mask(marked, plain)
    for cx in (50, half_w + 50):
        assert drawn[30, cx] and (marked[30, cx] == 255).all()  # the dot, where the click was, on both halves
    far = drawn.copy()
    far[:, :half_w][int(view.shape[0] * 0.5):] = False  # the values panel, bottom-left of the picture
    far[15:46, 35:66] = far[15:46, half_w + 35:half_w + 66] = False
    assert not far.any()
    assert drawn[-3, 3]  # the panel with the values

    gui.on_mouse(cv2.EVENT_RBUTTONDOWN, 10, 10, 0, None)
    assert probes.points() == ()
    assert np.array_equal(pipeline.compose(item, normalised), plain)


def test_values_follow_the_live_frames() -> None:
    probes = Probes([(100, 20)])
    pipeline = Pipeline(PatternSource(0), KnownDepth(), [], PipelineOptions(live=False, overlay=False), probes=probes)
    views = [pipeline.compose(*depth_item(i, 160, 120, picture=0)) for i in (0, 0, 1)]  # same picture, new depth
    panel = slice(60, 120), slice(0, 160)
    assert np.array_equal(views[0][panel], views[1][panel])
    assert not np.array_equal(views[1][panel], views[2][panel])  # depth at the probe changed, so did its text


class LockstepSource(PatternSource):
    """Frame k only once the window has shown frame k - 2: clicks land while frames are still coming."""

    def __init__(self, count: int, gui: FakeGui) -> None:
        super().__init__(count)
        self.gui = gui

    def read(self) -> Frame | None:
        deadline = time.monotonic() + 5
        while self.index >= 2 and time.monotonic() < deadline:
            if self.gui.shown and int(self.gui.shown[-1][0, 0, 0]) >= self.index - 2:
                break
            time.sleep(0.001)
        return super().read()


def test_clicks_and_c_through_the_running_window() -> None:
    """The app's arrangement: a click (on the main thread, in waitKey) reaches the display thread's frames; c clears."""
    gui = FakeGui()
    probes = Probes()
    stop = threading.Event()
    window = Window("test", gui=gui, screen=(1920, 1080), probes=probes)
    mailbox = MailboxSink()
    pipeline = Pipeline(LockstepSource(60, gui), KnownDepth(), [mailbox], PipelineOptions(live=False, overlay=False),
                        cancel=stop, probes=probes)
    clicked_at: list[int] = []
    cleared_at: list[int] = []
    wait_key = gui.waitKey

    def scripted(delay: int) -> int:
        shown = len(gui.shown)
        if shown >= 5 and not clicked_at:
            clicked_at.append(shown)
            gui.on_mouse(cv2.EVENT_LBUTTONDOWN, 64 + 10, 12, 0, None)  # on the depth half
        if shown >= 30 and not cleared_at:
            cleared_at.append(shown)
            return ord("c")
        return wait_key(delay)

    gui.waitKey = scripted  # type: ignore[method-assign]
    window.open()
    pipeline.start()
    try:
        window.run(mailbox.mailbox, stop, lambda: pipeline.running)
    finally:
        window.close()
        pipeline.finish()
    assert gui.threads == {threading.main_thread().name}
    dot = [bool((image[12, 10] == 255).all() and (image[12, 64 + 10] == 255).all()) for image in gui.shown]
    assert not any(dot[:clicked_at[0]])
    assert dot[-1] is False and any(dot[clicked_at[0]:cleared_at[0]])
    assert probes.points() == ()


def test_probes_are_safe_to_change_while_another_thread_reads_them() -> None:
    probes = Probes()
    probes.set_geometry(ViewGeometry((640, 480), (320, 240)))
    errors: list[BaseException] = []
    done = threading.Event()

    def writer(seed: int) -> None:
        try:
            for i in range(3000):
                if i % 97 == 0:
                    probes.clear()
                elif i % 2:
                    probes.add(seed, i)
                else:
                    probes.add_at_view(i % 640, (i * 7) % 240)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    def reader() -> None:
        try:
            while not done.is_set():
                points = probes.points()
                assert len(points) <= MAX_PROBES
                assert all(isinstance(p, tuple) and len(p) == 2 for p in points)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(3)]
    reading = threading.Thread(target=reader)
    reading.start()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    done.set()
    reading.join(30)
    assert errors == []
    assert len(probes) <= MAX_PROBES
    for _ in range(MAX_PROBES + 3):
        probes.add(1, 2)
    assert len(probes) == MAX_PROBES  # the oldest give way


REAL_CLICK_SCRIPT = textwrap.dedent("""
    import ctypes, ctypes.util, json, time
    import cv2, numpy as np
    from stream.view.probe import Probes, ViewGeometry
    from stream.gui.window import Window

    probes = Probes()
    window = Window("probe window", probes=probes)
    window.open()
    probes.set_geometry(ViewGeometry((640, 480), (640, 480)))   # what the display thread records
    for _ in range(5):
        window.show(np.zeros((480, 1280, 3), np.uint8))
        cv2.waitKey(20)
    x, y, width, height = cv2.getWindowImageRect("probe window")
    xlib = ctypes.cdll.LoadLibrary(ctypes.util.find_library("X11"))
    xtst = ctypes.cdll.LoadLibrary(ctypes.util.find_library("Xtst"))
    xlib.XOpenDisplay.restype = ctypes.c_void_p
    xlib.XOpenDisplay.argtypes = [ctypes.c_char_p]
    xlib.XFlush.argtypes = [ctypes.c_void_p]
    xtst.XTestFakeMotionEvent.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_ulong]
    xtst.XTestFakeButtonEvent.argtypes = [ctypes.c_void_p, ctypes.c_uint, ctypes.c_int, ctypes.c_ulong]
    display = xlib.XOpenDisplay(None)
    found = []
    for expected, image_x in enumerate((160, 640 + 160), start=1):   # the same source pixel on both halves
        xtst.XTestFakeMotionEvent(display, -1, x + round(width * (image_x + 0.5) / 1280), y + round(height * 240.5 / 480), 0)
        xtst.XTestFakeButtonEvent(display, 1, 1, 0)
        xtst.XTestFakeButtonEvent(display, 1, 0, 0)
        xlib.XFlush(display)
        deadline = time.monotonic() + 10   # a loaded machine may take a while to deliver the click
        while len(probes.points()) < expected and time.monotonic() < deadline:
            cv2.waitKey(20)
        found.append(probes.points())
    window.close()
    print(json.dumps({"window": [width, height], "found": found}))
""")


def test_a_real_click_maps_through_the_scaled_window(xvfb_display: str) -> None:
    """OpenCV's Qt window scales the picture to fit Xvfb's 640x480 screen and reports image pixels."""
    env = {**os.environ, "DISPLAY": xvfb_display, "PYTHONPATH": str(ROOT), "QT_QPA_PLATFORM": "xcb"}
    proc = subprocess.run([sys.executable, "-c", REAL_CLICK_SCRIPT], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["window"][0] < 1280  # really scaled down
    first, both = report["found"]
    assert len(first) == 1 and abs(first[0][0] - 160) <= 2 and abs(first[0][1] - 240) <= 2
    assert len(both) == 2 and both[1] == both[0]
