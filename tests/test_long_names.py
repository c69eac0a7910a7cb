"""Output names that are valid but long: the names we derive from them must fit too (255 bytes per name).

A 251-character ``--output`` used to work until the temporary name (``.NAME.<hex>.partial.png``)
or a derived one (``NAME.probe.csv``, the ``NAME.json`` sidecar) passed the limit: exit 1 after
the work, with "free some space" advice. Temporary names now fit always; derived final names
are refused before any work, in one line naming the output and the limit, exit 2.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from stream import launch
from tests.media import make_video

QUIET = ("--headless", "--engine", "onnxruntime", "--precision", "fp32", "--set", "display.progress=false")


def test_a_photo_output_of_251_characters_is_written_through_a_temporary_name_that_fits(tmp_path, random_onnx) -> None:
    photo = tmp_path / "photo.png"
    cv2.imwrite(str(photo), np.full((48, 64, 3), 90, np.uint8))
    output = tmp_path / ("p" * 247 + ".png")  # 251 bytes: the old temporary name was 273
    assert launch.main(["--source", str(photo), "--output", str(output), "--model", str(random_onnx), *QUIET]) == 0
    assert cv2.imread(str(output)).shape == (48, 128, 3)
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted([photo.name, output.name])  # nothing hidden left


@pytest.mark.parametrize("case", ["probe CSV beside --output", "sidecar of --depth-output", "--output itself"])
def test_a_derived_name_over_the_limit_is_one_line_before_any_work(tmp_path, random_onnx, capsys, case) -> None:
    video = make_video(tmp_path / "a.mp4", 64, 48, 3)
    long = "x" * 248  # + ".mp4" fits (252); + ".probe.csv" (258) and + ".mkv.json" (257) do not
    args = ["--source", str(video), "--model", str(random_onnx), *QUIET]
    if case == "probe CSV beside --output":
        args += ["--output", str(tmp_path / f"{long}.mp4"), "--probe", "1,1"]
        expected = ("the probe CSV", "(from --output) would be a 258-byte name", "choose a shorter --output or pass --probe-csv")
    elif case == "sidecar of --depth-output":
        args += ["--output", str(tmp_path / "out.mp4"), "--depth-output", str(tmp_path / f"{long}.mkv")]
        expected = ("its sidecar", "(from --depth-output) would be a 257-byte name", "choose a shorter --depth-output")
    else:
        args += ["--output", str(tmp_path / ("y" * 252 + ".mp4"))]
        expected = ("--output yyy", "is a 256-byte name", "choose a shorter --output")
    assert launch.main(args) == 2
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), lines
    assert all(part in lines[0] for part in expected) and "limit of 255 bytes per name" in lines[0], lines[0]
    assert "Traceback" not in lines[0] and len(lines[0]) < 260
    assert sorted(path.name for path in tmp_path.iterdir()) == ["a.mp4"]  # nothing was written
