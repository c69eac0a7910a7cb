"""Metres everywhere a metric model runs: probes, colours, depth files, point clouds, overlay and startup line.

The estimator here is a fake metric model (Depth Anything V2 Small indoor's ``ModelInfo``)
whose depth in metres is known in advance (a function of the pixel and the frame number),
so every value a user reads back (CSV, 16-bit PNG and FFV1 in millimetres, float32 metres,
PLY coordinates, colours) can be checked exactly against it.
"""

from __future__ import annotations

import csv
import json
import logging
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from plyfile import PlyData

import stream
from stream.core.frames import DepthFrame, Frame
from stream.core.modelinfo import ModelInfo
from stream.core.protocols import DepthResult
from stream.export import read_pfm, write_pointcloud
from stream.pipeline.stages import Pipeline
from stream.pipeline.stats import PipelineOptions
from stream.runtime.frontend import Frontend, Parts
from stream.runtime.run import run
from stream.view.normalize import make_normaliser
from stream.view.probe import Probes, probe_label
from stream.web.live import ProbeReadings
from tests.media import make_video
from tests.test_app import settings_for
from tests.test_pipeline import RecordingSink
from tests.test_probe import KnownDepth
from tests.test_web_live import serving, wait_for

NO_MODEL = Path("/nonexistent/model.onnx")  # the estimator is injected; nothing may load a model
INDOOR = ModelInfo(name="depth-anything-v2-small-indoor", output="metric", max_depth=20.0, multiple=14,
                   upsample="bilinear", net_size=252, trained_size=518)
OUTDOOR = ModelInfo(name="depth-anything-v2-small-outdoor", output="metric", max_depth=80.0, multiple=14,
                    upsample="bilinear", net_size=252, trained_size=518)


def metres(width: int, height: int, call: int) -> np.ndarray:
    """Depth of the ``call``-th frame in metres: farther to the right and upwards, and with the frame number."""
    xs = np.arange(width, dtype=np.float32)[None, :]
    ys = np.arange(height, dtype=np.float32)[:, None]
    return (0.5 + 0.0731 * xs + 0.0417 * (height - 1 - ys) + 0.25 * call).astype(np.float32)


class MetricDepth:
    """A metric estimator: ``depth(width, height, call)`` metres for its ``call``-th picture (in order in file mode)."""

    def __init__(self, info: ModelInfo = INDOOR, depth=metres) -> None:
        self.info, self.depth, self.calls = info, depth, 0

    def estimate(self, image: np.ndarray) -> DepthResult:
        depth = self.depth(image.shape[1], image.shape[0], self.calls)
        self.calls += 1
        return DepthResult(depth)


class Recording(Frontend):
    """A frontend that keeps every composed picture (what a window or the page would show)."""

    def __init__(self) -> None:
        self.sink = RecordingSink()

    def parts(self, settings, photo: bool) -> Parts:
        return Parts(sinks=[self.sink])


def photo(path: Path, width: int = 64, height: int = 48) -> Path:
    rng = np.random.default_rng(5)
    cv2.imwrite(str(path), rng.integers(0, 256, (height, width, 3), dtype=np.uint8))
    return path


def read_csv(path: Path) -> tuple[list[str], list[list[str]]]:
    with open(path, newline="") as handle:
        rows = list(csv.reader(handle))
    return rows[0], rows[1:]


# -- probes ----------------------------------------------------------------------------------------------------------
def test_probe_csv_of_a_metric_model_is_in_metres(tmp_path: Path) -> None:
    clip = make_video(tmp_path / "in.mp4", 64, 48, 8, fps=25)
    points = [[3, 4], [63, 47], [20, 10]]
    csv_path = tmp_path / "probe.csv"
    assert run(settings_for(str(clip), NO_MODEL, probe={"points": points, "csv": csv_path}),
               estimator=MetricDepth()).exit_code == 0
    header, rows = read_csv(csv_path)
    assert header == ["frame", "pts_seconds", "x3_y4_m", "x63_y47_m", "x20_y10_m"]
    assert len(rows) == 8
    for number, row in enumerate(rows):
        depth = metres(64, 48, number)
        assert int(row[0]) == number and float(row[1]) == pytest.approx(number / 25)
        assert [float(value) for value in row[2:]] == pytest.approx([float(depth[y, x]) for x, y in points], rel=1e-6)


def test_probe_labels_in_the_window_and_the_page_read_metres() -> None:
    assert probe_label(1, (0.884, 2.3141), INDOOR) == "1: 2.31 m"
    assert probe_label(2, (0.532, 41.25)) == "2: 0.532  raw 41.25"  # a relative model: as before
    depth = metres(64, 48, 0)
    readings = ProbeReadings(Probes([(10, 20)]))
    readings.write_depth(DepthFrame(Frame(np.zeros((48, 64, 3), np.uint8), 0), depth, model=INDOOR),
                         make_normaliser(model=INDOOR)(depth))
    (row,) = readings.rows()
    assert row["unit"] == "m" and row["raw"] == pytest.approx(float(depth[20, 10]))


# -- colours -----------------------------------------------------------------------------------------------------------
def scene(width: int, height: int, call: int) -> np.ndarray:
    """A patch at 2 m, one at 1 m and one at 10 m, in a room whose walls move between 3-6 m and 12-19 m."""
    xs = np.linspace(0.0, 1.0, width, dtype=np.float32)[None, :].repeat(height, 0)
    depth = (3.0 + 3.0 * xs) if call % 2 == 0 else (12.0 + 7.0 * xs)
    depth[8:20, 4:16] = 2.0
    depth[8:20, 24:36] = 1.0
    depth[28:40, 24:36] = 10.0
    return depth.astype(np.float32)


def depth_half(view: np.ndarray) -> np.ndarray:
    return view[:, view.shape[1] // 2:]


@pytest.mark.parametrize("colormap", ["inferno", "gray"])
def test_a_distance_keeps_its_colour_over_frames_and_near_is_bright(tmp_path: Path, colormap: str) -> None:
    clip = make_video(tmp_path / "in.mp4", 64, 48, 6, fps=25)
    frontend = Recording()
    settings = settings_for(str(clip), NO_MODEL, display={"overlay": False, "progress": False, "colormap": colormap})
    assert run(settings, estimator=MetricDepth(depth=scene), frontend=frontend).exit_code == 0
    views = [depth_half(frame.image) for frame in frontend.sink.frames]
    assert len(views) == 6
    at_2m = [view[14, 10].tolist() for view in views]
    assert at_2m == [at_2m[0]] * 6  # the walls moved; 2 m is the same colour in every frame
    assert not np.array_equal(views[0][30, 50], views[1][30, 50])  # (the walls did change colour)
    grey = [cv2.cvtColor(view, cv2.COLOR_BGR2GRAY).astype(int) for view in views]
    for g in grey:
        assert g[14, 30] > g[14, 10] > g[34, 30]  # 1 m brighter than 2 m brighter than 10 m
    # the fixed range is 0 .. 20 m: 1 m is index 0.95, 2 m 0.9, 10 m 0.5
    if colormap == "gray":
        assert [g[14, 30] for g in grey] == [round(0.95 * 255)] * 6 and grey[0][34, 30] in (127, 128)


def test_display_range_sets_the_metres_and_frame_stretches_each_frame(tmp_path: Path) -> None:
    depth = scene(64, 48, 0)
    ranged = make_normaliser("stable", (1.0, 3.0), INDOOR)(depth)  # display.range in metres: 1 m bright, 3 m dark
    assert ranged.index[14, 30] == pytest.approx(1.0) and ranged.index[14, 10] == pytest.approx(0.5)
    assert ranged.index[34, 30] == 0.0
    per_frame = make_normaliser("frame", None, INDOOR)(depth)
    assert per_frame.index[14, 30] == pytest.approx(1.0) and per_frame.index[34, 30] == pytest.approx(0.0, abs=1e-6)
    for normalised in (ranged, per_frame):  # the mapping back gives metres
        np.testing.assert_allclose(normalised.raw(normalised.index[8:20, 4:16]), 2.0, rtol=1e-6)


# -- depth files -------------------------------------------------------------------------------------------------------
def with_holes(width: int, height: int, call: int) -> np.ndarray:
    """Outdoor metres up to 80 m (beyond 16 bits of millimetres), with pixels of no depth (NaN) and a tiny one."""
    depth = np.tile(np.linspace(0.3, 80.0, width, dtype=np.float32), (height, 1)) + 0.01 * call
    depth[0, 0] = np.nan
    depth[0, 1] = 0.0
    depth[0, 2] = 0.0004
    return depth


def test_16_bit_png_of_a_metric_photo_holds_millimetres(tmp_path: Path) -> None:
    source = photo(tmp_path / "in.png")
    out = tmp_path / "depth.png"
    assert run(settings_for(str(source), NO_MODEL, export={"depth_output": out}),
               estimator=MetricDepth(OUTDOOR, with_holes)).exit_code == 0
    stored = cv2.imread(str(out), cv2.IMREAD_UNCHANGED)
    depth = with_holes(64, 48, 0).astype(np.float64)
    assert stored.dtype == np.uint16 and stored.shape == (48, 64)
    assert stored[0, 0] == 0 and stored[0, 1] == 0 and stored[0, 2] == 1  # no depth is 0; a real one never is
    expected = np.rint(depth * 1000)
    usable = np.isfinite(depth) & (depth > 0.001)
    np.testing.assert_array_equal(stored[usable], np.minimum(expected[usable], 65535))
    assert (stored == 65535).sum() == (expected > 65535).sum() > 0
    sidecar = json.loads((tmp_path / "depth.png.json").read_text())
    assert sidecar["unit"] == "mm" and sidecar["model"] == "depth-anything-v2-small-outdoor" and sidecar["max_depth_m"] == 80
    assert "v / 1000" in sidecar["recover"] and "65.535" in sidecar["recover"]
    assert sidecar["frames"][0]["saturated"] == int((expected > 65535).sum())
    assert "lo" not in sidecar["frames"][0]  # no normalisation to undo


def test_ffv1_depth_video_of_a_metric_model_holds_millimetres(tmp_path: Path) -> None:
    clip = make_video(tmp_path / "in.mp4", 64, 48, 6, fps=25)
    out = tmp_path / "depth.mkv"
    assert run(settings_for(str(clip), NO_MODEL, export={"depth_output": out}), estimator=MetricDepth()).exit_code == 0
    with av.open(str(out)) as container:
        frames = [f.to_ndarray(format="gray16le") for f in container.decode(video=0)]
    assert len(frames) == 6
    for number, values in enumerate(frames):
        assert values.dtype == np.uint16
        np.testing.assert_array_equal(values, np.rint(metres(64, 48, number).astype(np.float64) * 1000))
    sidecar = json.loads((tmp_path / "depth.mkv.json").read_text())
    assert sidecar["unit"] == "mm" and sidecar["model"] == INDOOR.name
    assert [entry["frame"] for entry in sidecar["frames"]] == list(range(6))
    assert all(entry["saturated"] == 0 for entry in sidecar["frames"])


def test_png_folder_of_a_metric_video_holds_millimetres(tmp_path: Path) -> None:
    clip = make_video(tmp_path / "in.mp4", 64, 48, 3, fps=25)
    folder = tmp_path / "depth"
    assert run(settings_for(str(clip), NO_MODEL, export={"depth_output": folder}), estimator=MetricDepth()).exit_code == 0
    sidecar = json.loads((folder / "depth.json").read_text())
    assert sidecar["unit"] == "mm"
    for number, entry in enumerate(sidecar["frames"]):
        stored = cv2.imread(str(folder / entry["file"]), cv2.IMREAD_UNCHANGED)
        np.testing.assert_array_equal(stored, np.rint(metres(64, 48, number).astype(np.float64) * 1000))


@pytest.mark.parametrize("name", ["depth.npy", "depth.pfm"])
def test_raw_depth_of_a_metric_photo_is_float32_metres(tmp_path: Path, name: str) -> None:
    out = tmp_path / name
    assert run(settings_for(str(photo(tmp_path / "in.png")), NO_MODEL, export={"depth_output": out}),
               estimator=MetricDepth()).exit_code == 0
    got = np.load(out) if name.endswith(".npy") else read_pfm(out.read_bytes())
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, metres(64, 48, 0))
    sidecar = json.loads((tmp_path / f"{name}.json").read_text())
    assert sidecar["unit"] == "m" and sidecar["model"] == INDOOR.name and "metres" in sidecar["stored"]


def test_npz_of_a_metric_video_is_float32_metres(tmp_path: Path) -> None:
    clip = make_video(tmp_path / "in.mp4", 64, 48, 4, fps=25)
    out = tmp_path / "depth.npz"
    assert run(settings_for(str(clip), NO_MODEL, export={"depth_output": out}), estimator=MetricDepth()).exit_code == 0
    with np.load(out) as archive:
        depth = archive["depth"]
    assert depth.dtype == np.float32 and depth.shape == (4, 48, 64)
    for number in range(4):
        np.testing.assert_array_equal(depth[number], metres(64, 48, number))
    assert json.loads((tmp_path / "depth.npz.json").read_text())["unit"] == "m"


def test_relative_depth_files_say_so(tmp_path: Path) -> None:
    clip = make_video(tmp_path / "in.mp4", 64, 48, 2, fps=25)
    assert run(settings_for(str(clip), NO_MODEL, export={"depth_output": tmp_path / "d.mkv"}), estimator=KnownDepth()).exit_code == 0
    sidecar = json.loads((tmp_path / "d.mkv.json").read_text())
    assert sidecar["unit"] == "relative" and sidecar["model"] == "midas-small" and "lo" in sidecar["frames"][0]


# -- point clouds ------------------------------------------------------------------------------------------------------
def ply_comments(path: Path) -> list[str]:
    head = path.read_bytes().split(b"end_header\n")[0].decode().splitlines()
    return [line.removeprefix("comment ") for line in head if line.startswith("comment ")]


def test_point_cloud_of_a_metric_photo_is_in_metres(tmp_path: Path) -> None:
    cloud = tmp_path / "cloud.ply"
    settings = settings_for(str(photo(tmp_path / "in.png")), NO_MODEL,
                            export={"pointcloud": cloud, "drop_flying_pixels": False, "fov_deg": 60.0})
    assert run(settings, estimator=MetricDepth()).exit_code == 0
    vertex = PlyData.read(str(cloud))["vertex"]
    depth = metres(64, 48, 0)
    assert len(vertex) == 64 * 48
    z = np.asarray(vertex["z"])
    assert np.all((z > 0) & (z <= INDOOR.max_depth))
    np.testing.assert_array_equal(z, depth.reshape(-1))  # row by row: each pixel's own metres
    focal = 32 / np.tan(np.radians(30))
    for row, col in [(0, 0), (47, 63), (20, 33)]:
        at = row * 64 + col
        assert vertex["x"][at] == pytest.approx((col - 31.5) * depth[row, col] / focal, rel=1e-5)
        assert vertex["y"][at] == pytest.approx((row - 23.5) * depth[row, col] / focal, rel=1e-5)
    comments = ply_comments(cloud)
    assert any("metres" in text for text in comments) and f"model {INDOOR.name}" in comments


def test_a_metric_cloud_leaves_out_pixels_without_depth(tmp_path: Path) -> None:
    depth = with_holes(64, 48, 0)
    image = np.zeros((48, 64, 3), np.uint8)
    count = write_pointcloud(tmp_path / "c.ply", image, depth, drop_flying=True, model=OUTDOOR)
    z = np.asarray(PlyData.read(str(tmp_path / "c.ply"))["vertex"]["z"])
    assert count == len(z) and 0 < count < 64 * 48 - 1 and np.all(np.isfinite(z) & (z > 0))


def test_a_relative_cloud_says_its_scale_is_arbitrary(tmp_path: Path) -> None:
    write_pointcloud(tmp_path / "c.ply", np.zeros((4, 5, 3), np.uint8), np.ones((4, 5), np.float32))
    assert any("arbitrary scale" in text and "not metres" in text for text in ply_comments(tmp_path / "c.ply"))


# -- what the user is told ---------------------------------------------------------------------------------------------
def test_startup_line_and_overlay_name_the_model_and_metres(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    clip = make_video(tmp_path / "in.mp4", 320, 240, 2, fps=25)
    frontend = Recording()
    with caplog.at_level(logging.INFO, logger="stream"):
        run(settings_for(str(clip), NO_MODEL, display={"overlay": True, "progress": False}),
            estimator=MetricDepth(), frontend=frontend)
    lines = [record.getMessage() for record in caplog.records if record.getMessage().startswith("model: ")]
    assert lines == ["model: depth-anything-v2-small-indoor (metric depth in metres, up to 20 m)"]
    relative = Recording()
    run(settings_for(str(clip), NO_MODEL, display={"overlay": True, "progress": False}), estimator=KnownDepth(), frontend=relative)
    picture_halves = [recorded.sink.frames[0].image[:, :320].astype(int) for recorded in (frontend, relative)]
    assert (np.abs(picture_halves[0] - picture_halves[1]).sum(axis=2) > 0)[:40].any()  # the metric overlay has its model line



    pipeline = Pipeline(None, MetricDepth(), [], PipelineOptions(live=False))  # type: ignore[arg-type]
    item = DepthFrame(Frame(np.zeros((48, 64, 3), np.uint8), 0, 0, Fraction(1, 25)), metres(64, 48, 0), model=INDOOR)
    assert pipeline.overlay_lines(item, make_normaliser(model=INDOOR)(item.depth))[0] == "depth-anything-v2-small-indoor  0-20 m"


def test_depth_stream_yields_metres_and_says_so(tmp_path: Path) -> None:
    clip = make_video(tmp_path / "in.mp4", 64, 48, 3, fps=25)
    with stream.DepthStream(clip, estimator=MetricDepth(), mode="file") as frames:
        assert frames.model.is_metric and frames.model.max_depth == 20.0
        results = list(frames)
    assert len(results) == 3
    for number, result in enumerate(results):
        np.testing.assert_array_equal(result.depth, metres(64, 48, number))
        assert result.normalized is not None
        np.testing.assert_allclose(result.normalized, 1.0 - result.depth / 20.0, atol=1e-6)  # near = 1, fixed metres


def test_the_page_reads_probes_in_metres_and_names_the_model() -> None:
    still = MetricDepth(depth=lambda width, height, _call: metres(width, height, 0))
    with serving(estimator=still) as app:
        assert app.post("api/probe", {"x": 40, "y": 30})[0] == 200
        probes = wait_for(lambda: app.status()["probes"], "a probe reading")
        assert probes[0]["unit"] == "m" and probes[0]["raw"] == pytest.approx(float(metres(160, 120, 0)[30, 40]))
        model = app.status()["model"]
        assert model["unit"] == "m" and model["name"] == INDOOR.name and "metres" in model["description"]
        assert "'m'" in app.get("static/live.js")[1].decode()  # the page writes "2.31 m" for such a reading
