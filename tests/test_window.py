"""The window: owned by the main thread, never waited for, sized to the screen, quiet.

Most tests drive ``Window`` with a fake GUI (it records which thread made each call and
can stall like a dragged window); the Xvfb tests use OpenCV's real Qt window in a child
process, so a lost X server aborts the child, not pytest.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from stream.core.errors import OutputError
from stream.core.frames import Frame
from stream.core.protocols import DepthResult
from stream.gui.window import MailboxSink, Window, fit_to_screen
from stream.pipeline.stages import Pipeline
from stream.pipeline.stats import PipelineOptions
from tests.media import pattern_frame

ROOT = Path(__file__).resolve().parents[1]


class FakeGui:
    """HighGUI stand-in: records the thread of every call; ``waitKey`` can stall once or type keys."""

    def __init__(self, keys: list[int] | None = None) -> None:
        self.threads: set[str] = set()
        self.shown: list[np.ndarray] = []
        self.size: tuple[int, int] | None = None
        self.keys = list(keys or [])
        self.stall_at: int | None = None
        self.stalled = threading.Event()
        self.release = threading.Event()
        self.visible = 1.0
        self.on_mouse = None  # the window's mouse callback, once set: tests call it as HighGUI would

    def _call(self) -> None:
        self.threads.add(threading.current_thread().name)

    def namedWindow(self, name: str, flags: int) -> None:
        self._call()

    def resizeWindow(self, name: str, width: int, height: int) -> None:
        self._call()
        self.size = (width, height)

    def imshow(self, name: str, image: np.ndarray) -> None:
        self._call()
        self.shown.append(image)

    def waitKey(self, delay: int) -> int:
        self._call()
        if self.stall_at is not None and len(self.shown) == self.stall_at and not self.stalled.is_set():
            self.stalled.set()
            self.release.wait(30)  # a window being dragged: the GUI thread is stuck
        return self.keys.pop(0) if self.keys else -1

    def getWindowProperty(self, name: str, prop: int) -> float:
        self._call()
        return self.visible

    def destroyWindow(self, name: str) -> None:
        self._call()

    def setMouseCallback(self, name: str, on_mouse) -> None:
        self._call()
        self.on_mouse = on_mouse


class PatternSource:
    """Frames whose first pixel holds the index; optionally waits for an event before each frame."""

    def __init__(self, count: int, gate: threading.Event | None = None) -> None:
        self.count, self.gate, self.index = count, gate, 0

    def read(self) -> Frame | None:
        if self.index >= self.count:
            return None
        image = pattern_frame(self.index, 64, 48)
        image[0, 0] = self.index % 256
        frame = Frame(image, self.index, pts=self.index, time_base=Fraction(1, 25))
        self.index += 1
        return frame


class EchoDepth:
    def estimate(self, image):
        return DepthResult(self.predict(image))

    def predict(self, image: np.ndarray) -> np.ndarray:
        return image[:, :, 1].astype(np.float32)


def run_with_window(gui: FakeGui, source: PatternSource, stop: threading.Event | None = None,
                    watch=None) -> tuple[Window, MailboxSink, Pipeline]:
    """The app's arrangement: workers in the background, the window loop on this (the main) thread."""
    stop = stop or threading.Event()
    window = Window("test", gui=gui, screen=(1920, 1080))
    mailbox = MailboxSink()
    pipeline = Pipeline(source, EchoDepth(), [mailbox], PipelineOptions(live=False, overlay=False), cancel=stop,
                        on_display=watch)
    pipeline.run(foreground=lambda: window.run(mailbox.mailbox, stop, lambda: pipeline.running))
    return window, mailbox, pipeline


def test_every_gui_call_is_made_on_the_main_thread() -> None:
    gui = FakeGui()
    window, _, pipeline = run_with_window(gui, PatternSource(30))
    assert pipeline.stats.displayed == 30
    assert gui.threads == {threading.main_thread().name}
    assert window.frames_shown == len(gui.shown) > 0
    assert int(gui.shown[-1][0, 0, 0]) == 29  # the last frame is shown, not lost


def test_one_gui_stall_costs_only_the_frames_it_missed() -> None:
    """A slow waitKey once (a window drag) must not slow the display worker, then or later."""
    gui = FakeGui()
    gui.stall_at = 3
    displayed_during_stall: list[int] = []

    def watch(stats) -> None:
        # while the GUI is stuck the worker keeps composing frames; let the GUI go after 40 of them
        if gui.stalled.is_set() and not gui.release.is_set():
            displayed_during_stall.append(stats.displayed)
            if len(displayed_during_stall) >= 40:
                gui.release.set()

    window, mailbox, pipeline = run_with_window(gui, PatternSource(200), watch=watch)
    gui.release.set()
    assert len(displayed_during_stall) >= 40  # the worker never waited for the window
    assert pipeline.stats.displayed == 200
    assert mailbox.replaced > 0 and window.frames_shown + mailbox.replaced == 200
    after = [int(image[0, 0, 0]) for image in gui.shown[3:]]
    assert after[0] > 3 + 30  # right after the stall the window jumps to the newest frame


def test_q_and_closing_the_window_stop_the_run() -> None:
    stop = threading.Event()
    gui = FakeGui(keys=[-1, -1, ord("q")])
    run_with_window(gui, PatternSource(100_000), stop=stop)
    assert stop.is_set()

    closed = FakeGui()
    closed.visible = 0.0  # the user clicked the window's close button
    stop = threading.Event()
    window, _, _ = run_with_window(closed, PatternSource(100_000), stop=stop)
    assert stop.is_set() and window.quit_requested


def test_snapshot_key_saves_the_full_size_picture(tmp_path: Path) -> None:
    gui = FakeGui(keys=[-1, ord("s")])
    window = Window("test", snapshot_dir=tmp_path / "shots", gui=gui, screen=(320, 200))
    window.open()
    image = pattern_frame(3, 1280, 480)
    window.show(image)
    window.handle_key(gui.waitKey(1))
    window.handle_key(gui.waitKey(1))
    import cv2

    assert len(window.snapshots) == 1
    assert np.array_equal(cv2.imread(str(window.snapshots[0])), image)
    assert gui.size == (288, 108)  # the window fits the screen; the snapshot keeps every pixel


@pytest.mark.parametrize("image,screen,expected", [
    ((2560, 720), (1920, 1080), (1728, 486)),   # 720p side by side on a 1080p screen
    ((640, 240), (1920, 1080), (640, 240)),     # small pictures keep their size
    ((7680, 2160), (3840, 2160), (3456, 972)),
    ((1280, 480), None, (1280, 480)),
])
def test_window_fits_the_screen_keeping_the_aspect(image, screen, expected) -> None:
    assert fit_to_screen(*image, screen) == expected


def test_window_without_display_suggests_headless(monkeypatch: pytest.MonkeyPatch) -> None:
    if sys.platform in ("darwin", "win32"):
        pytest.skip("X11 only")
    monkeypatch.delenv("DISPLAY", raising=False)
    with pytest.raises(OutputError, match="--headless"):
        Window()
    monkeypatch.setenv("DISPLAY", ":4242")  # nothing listens there; Qt would abort the process
    with pytest.raises(OutputError, match="--headless") as caught:
        Window()
    assert ":4242" in str(caught.value)


WINDOW_SCRIPT = textwrap.dedent("""
    import json, sys, threading
    from pathlib import Path
    import cv2
    from stream.gui.window import Window
    from tests.media import pattern_frame

    window = Window("test window", snapshot_dir=Path(sys.argv[1]))
    window.open()
    for index in range(5):
        window.show(pattern_frame(index, 1280, 480))
        cv2.waitKey(20)
    window.handle_key(ord("s"))
    x, y, width, height = cv2.getWindowImageRect("test window")
    window.handle_key(ord("q"))
    window.close()
    print(json.dumps({"shown": window.frames_shown, "quit": window.quit_requested, "size": [width, height],
                      "snapshots": [str(p) for p in window.snapshots]}))
""")


def test_real_window_fits_the_screen_and_saves_snapshots(tmp_path: Path, xvfb_display: str) -> None:
    env = {**os.environ, "DISPLAY": xvfb_display, "PYTHONPATH": str(ROOT), "QT_QPA_PLATFORM": "xcb"}
    env.pop("QT_QPA_FONTDIR", None)
    proc = subprocess.run([sys.executable, "-c", WINDOW_SCRIPT, str(tmp_path / "shots")], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "QFont" not in proc.stderr and "QObject" not in proc.stderr, proc.stderr  # no Qt noise
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["shown"] == 5 and report["quit"]
    width, height = report["size"]
    assert width <= 640 * 0.9 + 1 and abs(width / height - 1280 / 480) < 0.05  # Xvfb's screen is 640x480
    snapshot = Path(report["snapshots"][0])
    import cv2

    image = cv2.imread(str(snapshot))
    assert np.array_equal(image, pattern_frame(4, 1280, 480))


def test_p_key_saves_the_frame_on_screen_as_a_point_cloud(tmp_path: Path) -> None:
    from plyfile import PlyData

    from stream.export.snapshot import LatestCloud

    cloud = LatestCloud(tmp_path / "shots", step=2)
    gui = FakeGui(keys=[-1] * 20 + [ord("p")] + [-1] * 5 + [ord("q")])
    stop = threading.Event()
    window = Window("test", gui=gui, screen=(1920, 1080), save_cloud=cloud.save)
    mailbox = MailboxSink()
    pipeline = Pipeline(PatternSource(100_000), EchoDepth(), [mailbox], PipelineOptions(live=True, overlay=False), cancel=stop,
                        depth_sinks=[cloud])
    pipeline.run(foreground=lambda: window.run(mailbox.mailbox, stop, lambda: pipeline.running))
    assert len(cloud.saved) == 1 and cloud.saved[0].parent == tmp_path / "shots" and cloud.saved[0].suffix == ".ply"
    vertices = PlyData.read(str(cloud.saved[0]))["vertex"]
    assert 0 < len(vertices) <= (64 // 2) * (48 // 2)
