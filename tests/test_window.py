"""The window: no display means a one-line --headless hint; under Xvfb frames show and "s" snapshots."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from stream.errors import OutputError
from stream.sinks import WindowSink
from tests.media import pattern_frame

ROOT = Path(__file__).resolve().parents[1]


def test_window_without_display_suggests_headless(monkeypatch: pytest.MonkeyPatch) -> None:
    if sys.platform in ("darwin", "win32"):
        pytest.skip("X11 only")
    monkeypatch.delenv("DISPLAY", raising=False)
    with pytest.raises(OutputError, match="--headless"):
        WindowSink()
    monkeypatch.setenv("DISPLAY", ":4242")  # nothing listens there; Qt would abort the process
    with pytest.raises(OutputError, match="--headless") as caught:
        WindowSink()
    assert ":4242" in str(caught.value)


WINDOW_SCRIPT = textwrap.dedent("""
    import json, sys
    from fractions import Fraction
    from pathlib import Path
    from stream.frames import Frame
    from stream.sinks import WindowSink
    from tests.media import pattern_frame

    sink = WindowSink("test window", snapshot_dir=Path(sys.argv[1]))
    with sink:
        for index in range(5):
            sink.write(Frame(pattern_frame(index, 160, 120), index, pts=index, time_base=Fraction(1, 25)))
        quit_before = sink.quit_requested
        sink.handle_key(ord("s"))
        sink.handle_key(-1)
        sink.handle_key(ord("q"))
    print(json.dumps({"shown": sink.frames_shown, "quit_before": quit_before, "quit": sink.quit_requested,
                      "snapshots": [str(p) for p in sink.snapshots]}))
""")


def test_window_shows_frames_and_saves_snapshots(tmp_path: Path, xvfb_display: str) -> None:
    # a child process: if the X server goes away, Qt aborts its process, not pytest's
    env = {**os.environ, "DISPLAY": xvfb_display, "PYTHONPATH": str(ROOT), "QT_QPA_PLATFORM": "xcb"}
    proc = subprocess.run([sys.executable, "-c", WINDOW_SCRIPT, str(tmp_path / "shots")], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["shown"] == 5 and not report["quit_before"] and report["quit"]
    assert len(report["snapshots"]) == 1
    snapshot = Path(report["snapshots"][0])
    assert snapshot.parent == tmp_path / "shots" and snapshot.suffix == ".png"
    import cv2

    image = cv2.imread(str(snapshot))
    assert image is not None and image.shape == (120, 160, 3)
    assert np.array_equal(image, pattern_frame(4, 160, 120))
