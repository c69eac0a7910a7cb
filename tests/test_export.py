"""Depth writers, driven directly with frames: every format written, read back, and mapped back to raw depth."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from stream.core.errors import OutputWriteError
from stream.core.frames import DepthFrame, Frame, Normalised
from stream.export import make_depth_sink, read_pfm
from stream.export.images import encode_png16
from stream.export.sequence import NpzDepthSink
from stream.export.sidecar import to_uint16
from stream.view.normalize import make_normaliser, to_index

# The README's three lines (run as written, in the folder holding the files).
README_RECOVERY = """
v = cv2.imread("depth.png", cv2.IMREAD_UNCHANGED).astype(np.float64)
m = json.load(open("depth.png.json"))["frames"][0]
raw = (m["lo"] + v / 65535 * (m["hi"] - m["lo"]) - m["shift"]) / m["scale"]
"""


def model_depth(index: int, width: int = 64, height: int = 48) -> np.ndarray:
    """MiDaS-like relative inverse depth: a smooth field of a few hundred to a few thousand, changing per frame."""
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    field = 300 + 20 * xs + 15 * ys + 200 * np.sin(xs / 7 + index) * np.cos(ys / 5)
    return (field * (1 + 0.05 * index)).astype(np.float32)


def depth_frames(count: int, fps: int = 24, start_pts: int = 0) -> list[DepthFrame]:
    frames = []
    for i in range(count):
        image = np.full((48, 64, 3), i * 10 % 256, np.uint8)
        frames.append(DepthFrame(Frame(image, i, start_pts + i, Fraction(1, fps)), model_depth(i)))
    return frames


def aligned(depth: np.ndarray, scale: float = 0.002, shift: float = -0.3) -> Normalised:
    """A normalisation with a fitted scale and shift (as ``stable`` makes): ``index`` from ``scale * raw + shift``."""
    values = scale * depth.astype(np.float64) + shift
    lo, hi = float(values.min()), float(values.max())
    return Normalised(to_index(values, lo, hi), lo, hi, scale, shift)


def write_all(path: Path, items: list[DepthFrame], normalise=None) -> None:
    normalise = normalise or make_normaliser("frame")
    with make_depth_sink(path, fps=24) as sink:
        for item in items:
            sink.write_depth(item, normalise(item.depth))


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


@pytest.mark.parametrize("normalise", [None, aligned], ids=["frame", "scale-shift"])
def test_png_is_16_bit_and_the_readme_lines_recover_raw_depth(tmp_path, monkeypatch, normalise) -> None:
    item = depth_frames(1)[0]
    write_all(tmp_path / "depth.png", [item], normalise)
    stored = cv2.imread(str(tmp_path / "depth.png"), cv2.IMREAD_UNCHANGED)
    assert stored.dtype == np.uint16 and stored.shape == item.depth.shape
    assert stored.min() == 0 and stored.max() == 65535  # the full 16-bit range is used
    monkeypatch.chdir(tmp_path)
    scope: dict = {"cv2": cv2, "json": json, "np": np}
    exec(README_RECOVERY, scope)
    np.testing.assert_allclose(scope["raw"], item.depth, rtol=1e-3)
    entry = json.loads((tmp_path / "depth.png.json").read_text())["frames"][0]
    assert entry["frame"] == 0 and entry["pts"] == 0 and entry["time_base"] == "1/24"
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("name", ["depth.npy", "depth.pfm"])
def test_npy_and_pfm_hold_the_raw_model_depth(tmp_path, name) -> None:
    item = depth_frames(1)[0]
    write_all(tmp_path / name, [item])
    path = tmp_path / name
    got = np.load(path) if name.endswith(".npy") else read_pfm(path.read_bytes())
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, item.depth)
    assert not (tmp_path / f"{name}.json").exists()


def test_pfm_layout_is_what_midas_writes(tmp_path) -> None:
    depth = np.arange(12, dtype=np.float32).reshape(3, 4)
    item = DepthFrame(Frame(np.zeros((3, 4, 3), np.uint8), 0), depth)
    write_all(tmp_path / "d.pfm", [item])
    data = (tmp_path / "d.pfm").read_bytes()
    assert data.startswith(b"Pf\n4 3\n-1.000000\n")
    rows = np.frombuffer(data[len(b"Pf\n4 3\n-1.000000\n"):], "<f4").reshape(3, 4)
    np.testing.assert_array_equal(rows, depth[::-1])  # bottom row first


def test_ffv1_mkv_is_lossless_16_bit_with_the_source_timestamps(tmp_path) -> None:
    items = depth_frames(10, fps=24, start_pts=3)
    normalise = make_normaliser("frame")
    mapped = [normalise(item.depth) for item in items]
    with make_depth_sink(tmp_path / "depth.mkv", fps=24) as sink:
        for item, normalised in zip(items, mapped):
            sink.write_depth(item, normalised)
    with av.open(str(tmp_path / "depth.mkv")) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "ffv1"
        decoded = [(f.to_ndarray(format="gray16le"), float(f.pts * f.time_base), f.format.name) for f in container.decode(stream)]
    assert len(decoded) == 10
    for (values, seconds, pix_fmt), item, normalised in zip(decoded, items, mapped):
        assert pix_fmt == "gray16le" and values.dtype == np.uint16
        assert abs(seconds - item.frame.seconds) < 1e-3  # Matroska keeps milliseconds
        entry_raw = normalised.raw(values / 65535)
        np.testing.assert_allclose(entry_raw, item.depth, rtol=1e-3)
        np.testing.assert_array_equal(values, np.rint(normalised.index * 65535).astype(np.uint16))
    sidecar = json.loads((tmp_path / "depth.mkv.json").read_text())
    assert [e["pts"] for e in sidecar["frames"]] == [i.frame.pts for i in items]
    for values_seconds, entry, item in zip(decoded, sidecar["frames"], items):
        v = values_seconds[0].astype(np.float64)
        raw = (entry["lo"] + v / 65535 * (entry["hi"] - entry["lo"]) - entry["shift"]) / entry["scale"]
        np.testing.assert_allclose(raw, item.depth, rtol=1e-3)
    assert leftovers(tmp_path) == []


def test_png_folder_holds_numbered_16_bit_frames_and_one_sidecar(tmp_path) -> None:
    items = depth_frames(4)
    folder = tmp_path / "depth"
    write_all(folder, items, aligned)
    names = sorted(p.name for p in folder.iterdir())
    assert names == ["depth.json", "depth_000001.png", "depth_000002.png", "depth_000003.png", "depth_000004.png"]
    entries = json.loads((folder / "depth.json").read_text())["frames"]
    for entry, item in zip(entries, items):
        v = cv2.imread(str(folder / entry["file"]), cv2.IMREAD_UNCHANGED).astype(np.float64)
        raw = (entry["lo"] + v / 65535 * (entry["hi"] - entry["lo"]) - entry["shift"]) / entry["scale"]
        np.testing.assert_allclose(raw, item.depth, rtol=1e-3)
        assert entry["frame"] == item.frame.index


def test_npz_holds_every_frame_raw_with_timestamps(tmp_path) -> None:
    items = depth_frames(7, fps=25, start_pts=100)
    write_all(tmp_path / "depth.npz", items)
    with np.load(tmp_path / "depth.npz") as data:
        assert sorted(data.files) == ["depth", "frame", "pts", "seconds"]
        assert data["depth"].dtype == np.float32 and data["depth"].shape == (7, 48, 64)
        np.testing.assert_array_equal(data["depth"], np.stack([i.depth for i in items]))
        assert data["pts"].tolist() == list(range(100, 107))
        np.testing.assert_allclose(data["seconds"], [i.frame.seconds for i in items])
        assert data["frame"].tolist() == list(range(7))
    assert leftovers(tmp_path) == []


def failing_on(call: int, function):
    calls = {"n": 0}

    def wrapper(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == call:
            raise OSError(28, "No space left on device")
        return function(*args, **kwargs)

    return wrapper


@pytest.mark.parametrize("name", ["depth.mkv", "depth.npz", "depth.png"])
def test_a_writer_failing_mid_way_leaves_nothing(tmp_path, monkeypatch, name) -> None:
    items = depth_frames(5)
    if name == "depth.mkv":  # the disk fills at the third frame
        monkeypatch.setattr("stream.export.sidecar.to_uint16", failing_on(3, to_uint16))
    elif name == "depth.npz":  # the third frame has another size
        items[2] = DepthFrame(items[2].frame, items[2].depth[:, :32])
    else:
        monkeypatch.setattr("stream.export.images.encode_png16", failing_on(1, encode_png16))
    with pytest.raises(OutputWriteError, match="No space left|size changed"):
        write_all(tmp_path / name, items)
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_a_failure_while_finishing_leaves_nothing(tmp_path, monkeypatch) -> None:
    sink = NpzDepthSink(tmp_path / "depth.npz")
    normalise = make_normaliser("frame")
    for item in depth_frames(3):
        sink.write_depth(item, normalise(item.depth))
    monkeypatch.setattr("stream.export.sequence.zipfile.ZipFile.open", failing_on(1, lambda *a, **k: None))
    with pytest.raises(OutputWriteError):
        sink.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_a_temporary_name_keeps_the_extension_and_the_final_name_appears_only_complete(tmp_path, monkeypatch) -> None:
    seen: list[tuple[str, bool]] = []
    real = av.open

    def spy(path, *args, **kwargs):
        seen.append((Path(path).name, (tmp_path / "depth.mkv").exists()))
        return real(path, *args, **kwargs)

    monkeypatch.setattr(av, "open", spy)
    write_all(tmp_path / "depth.mkv", depth_frames(3))
    (name, final_existed), = seen
    assert name.startswith(".depth.mkv.") and name.endswith(".mkv") and not final_existed
    assert (tmp_path / "depth.mkv").exists()


@pytest.mark.parametrize("name", ["depth.png", "depth.mkv", "depth.npz"])
def test_finished_files_get_the_permissions_any_new_file_gets(tmp_path, name) -> None:
    import os

    previous = os.umask(0o022)
    try:
        write_all(tmp_path / name, depth_frames(1 if name.endswith(".png") else 2))
    finally:
        os.umask(previous)
    assert (tmp_path / name).stat().st_mode & 0o777 == 0o644  # not the 0600 of a mkstemp temporary


def test_no_frame_writes_nothing(tmp_path) -> None:
    with make_depth_sink(tmp_path / "depth.mkv", fps=24):
        pass
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("key,value", [("fov_deg", 0), ("fov_deg", 180), ("pointcloud_step", 0)])
def test_export_settings_out_of_range_name_the_key(key, value) -> None:
    from stream.config.settings import load_settings
    from stream.core.errors import ConfigError

    with pytest.raises(ConfigError, match=f"export.{key}"):
        load_settings(None, {"export": {key: value}})
