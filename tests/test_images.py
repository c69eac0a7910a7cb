"""Photos in, images out: one photo, a folder or a glob of photos, written as side-by-side images.

Pictures are written to disk (with the EXIF bytes a phone writes, 16 bits, grey, alpha),
run through the app and read back.
"""

from __future__ import annotations

import errno
import os
import struct
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from stream.core.errors import OutputError, OutputWriteError
from stream.gui.frontend import WindowFrontend
from stream.runtime.result import summary
from stream.runtime.run import run
from stream.sinks import ImageFileSink, check_output_path
from stream.sources import SourceKind, open_source
from stream.sources.still import read_image
from tests.media import make_video, read_video
from tests.test_app import settings_for

ROOT = Path(__file__).resolve().parent.parent
RED, BLUE = (0, 0, 255), (255, 0, 0)


def jpeg_with_orientation(path: Path, image: np.ndarray, orientation: int) -> Path:
    """A JPEG whose APP1 EXIF block carries ``orientation`` (tag 0x0112), as phone cameras write it."""
    ok, buffer = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 95])
    assert ok
    tiff = b"MM\x00*" + struct.pack(">I", 8) + struct.pack(">H", 1) + struct.pack(">HHIHH", 0x0112, 3, 1, orientation, 0)
    tiff += struct.pack(">I", 0)
    app1 = b"\xff\xe1" + struct.pack(">H", len(tiff) + 8) + b"Exif\x00\x00" + tiff
    data = buffer.tobytes()
    path.write_bytes(data[:2] + app1 + data[2:])
    return path


def photo(width: int = 160, height: int = 120, seed: int = 0) -> np.ndarray:
    """A smooth, distinct picture (JPEG keeps it close) with a bright square that marks its origin."""
    y, x = np.mgrid[0:height, 0:width]
    image = np.stack([x * 255 // width, y * 255 // height, np.full_like(x, 40 * seed % 256)], axis=-1).astype(np.uint8)
    image[: height // 4, : width // 4] = 255
    return image


def photo_folder(folder: Path, count: int = 3, broken: bool = True) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for index in range(count):
        cv2.imwrite(str(folder / f"p{index}.jpg"), photo(seed=index))
    if broken:
        (folder / "broken.jpg").write_bytes(b"this is not a jpeg")
    (folder / "notes.txt").write_text("not a picture, skipped")
    return folder


# -- reading photos ------------------------------------------------------------------

def test_exif_orientation_6_comes_out_upright(tmp_path) -> None:
    stored = np.zeros((40, 80, 3), np.uint8)
    stored[:, :40], stored[:, 40:] = RED, BLUE  # stored sideways: red left, blue right
    path = jpeg_with_orientation(tmp_path / "phone.jpg", stored, 6)  # 6: turn 90 degrees clockwise to show
    with open_source(str(path)) as source:
        assert source.info.kind is SourceKind.IMAGE and source.info.frame_count == 1
        assert (source.info.width, source.info.height) == (40, 80)
        frame = source.read()
        assert source.read() is None
    assert frame is not None and frame.image.shape == (80, 40, 3)
    assert np.abs(frame.image[5:35].astype(int) - RED).max() < 12  # the red (left) half is now on top
    assert np.abs(frame.image[45:75].astype(int) - BLUE).max() < 12


def test_sixteen_bit_png_is_scaled_not_cut(tmp_path) -> None:
    deep = np.zeros((8, 8, 3), np.uint16)
    deep[:, :4] = 65535
    deep[:, 4:] = 32896  # 128 * 257: half brightness; its low byte is 128 too, so use an odd value below
    deep[0, 0] = (256, 256, 256)  # nearly black: low byte 0, high byte 1
    deep[0, 1] = (255, 255, 255)  # low byte 255: truncation to the low byte would make it white
    path = tmp_path / "deep.png"
    assert cv2.imwrite(str(path), deep)
    image = read_image(path)
    assert image.dtype == np.uint8 and image.shape == (8, 8, 3)
    assert (image[1:, :4] == 255).all() and (image[1:, 4:] == 128).all()
    assert (image[0, 0] == 1).all() and (image[0, 1] == 1).all()


def test_grey_and_alpha_pngs_become_bgr(tmp_path) -> None:
    grey = np.tile(np.arange(0, 250, 10, dtype=np.uint8), (6, 1))
    cv2.imwrite(str(tmp_path / "grey.png"), grey)
    rgba = np.zeros((6, 9, 4), np.uint8)
    rgba[..., :3], rgba[..., 3] = (10, 200, 30), 0  # fully transparent: the colour is kept, alpha dropped
    cv2.imwrite(str(tmp_path / "alpha.png"), rgba)
    image = read_image(tmp_path / "grey.png")
    assert image.shape == (6, 25, 3) and all((image[..., c] == grey).all() for c in range(3))
    image = read_image(tmp_path / "alpha.png")
    assert image.shape == (6, 9, 3) and (image == (10, 200, 30)).all()


def test_image_sequences_and_videos_are_still_not_photos(tmp_path) -> None:
    frames = tmp_path / "frames"
    frames.mkdir()
    for index in range(3):
        cv2.imwrite(str(frames / f"f_{index:04d}.png"), photo(seed=index))
    with open_source(str(frames / "f_%04d.png")) as source:
        assert source.info.kind is SourceKind.IMAGES and source.info.frame_count == 3
    clip = make_video(tmp_path / "clip.mp4", 64, 48, 3)
    with open_source(str(clip)) as source:
        assert source.info.kind is SourceKind.FILE
    renamed = tmp_path / "picture.dat"  # no image extension: recognised by its first bytes
    renamed.write_bytes((frames / "f_0000.png").read_bytes())
    with open_source(str(renamed)) as source:
        assert source.info.kind is SourceKind.IMAGE


# -- one photo out -------------------------------------------------------------------

@pytest.mark.parametrize("suffix,tolerance", [(".png", 0.0), (".jpg", 3.0), (".webp", 6.0)])
def test_photo_to_side_by_side_image(tmp_path, random_onnx, suffix, tolerance) -> None:
    source = jpeg_with_orientation(tmp_path / "in.jpg", photo(), 1)
    expected = cv2.imread(str(source))
    out = tmp_path / f"out{suffix}"
    result = run(settings_for(str(source), random_onnx, output=out))
    assert result.exit_code == 0 and result.output == out
    written = cv2.imread(str(out))
    assert written.shape == (120, 320, 3)
    # nothing drawn on a photo: no rates (one picture has none) and no "frame 1"
    difference = np.abs(written[:, :160].astype(int) - expected.astype(int))
    assert difference.mean() <= tolerance
    assert difference[:20, :40].mean() <= tolerance + 2  # where a status panel would darken the white corner
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["in.jpg", out.name])  # no temporary left
    assert f"wrote {out}" in summary(result)


def test_photo_to_video_is_one_frame(tmp_path, random_onnx) -> None:
    source = tmp_path / "in.png"
    cv2.imwrite(str(source), photo())
    out = tmp_path / "out.mp4"
    assert run(settings_for(str(source), random_onnx, output=out)).exit_code == 0
    frames, _, _, _ = read_video(out)
    assert len(frames) == 1 and frames[0].shape[:2] == (120, 320)


def test_output_extension_must_fit_the_source(tmp_path) -> None:
    check_output_path(tmp_path / "a.png", image_source=True)
    check_output_path(tmp_path / "a.mp4", image_source=True)
    with pytest.raises(OutputError, match="one image, but --source is not a photo"):
        check_output_path(tmp_path / "a.png")
    with pytest.raises(OutputError, match="no image or video extension"):
        check_output_path(tmp_path / "a.gif", image_source=True)


def test_video_to_png_is_refused_in_one_line_before_work(tmp_path, random_onnx) -> None:
    clip = make_video(tmp_path / "clip.mp4", 64, 48, 3)
    out = tmp_path / "x.png"
    proc = subprocess.run([sys.executable, str(ROOT / "run_stream.py"), "--source", str(clip), "--output", str(out),
                           "--model", str(random_onnx), "--headless"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: output") and ".mp4" in lines[0]
    assert not out.exists()


# -- written whole or not at all -------------------------------------------------------

def test_half_written_image_never_has_the_final_name(tmp_path, monkeypatch) -> None:
    from stream.core.frames import Frame

    out = tmp_path / "out.png"
    out.write_bytes(b"the previous result")
    real_write_bytes = Path.write_bytes

    def disk_full(self: Path, data: bytes) -> int:
        real_write_bytes(self, data[: len(data) // 2])
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Path, "write_bytes", disk_full)
    with pytest.raises(OutputWriteError, match="No space left"), ImageFileSink(out) as sink:
        sink.write(Frame(photo(), 0))
    assert out.read_bytes() == b"the previous result"
    assert [p.name for p in tmp_path.iterdir()] == ["out.png"]  # the half-written temporary is gone
    monkeypatch.undo()
    with ImageFileSink(out) as sink:
        sink.write(Frame(photo(), 0))
    assert cv2.imread(str(out)).shape == (120, 160, 3)


def test_encoder_failure_in_a_run_leaves_no_file(tmp_path, random_onnx, monkeypatch) -> None:
    source = tmp_path / "in.png"
    cv2.imwrite(str(source), photo())
    monkeypatch.setattr("stream.sinks.image.cv2.imencode", lambda *a, **k: (False, None))
    with pytest.raises(Exception, match="could not encode"):
        run(settings_for(str(source), random_onnx, output=tmp_path / "out.png"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.png"]


# -- folders and globs -------------------------------------------------------------------

def test_folder_with_a_broken_image_cli(tmp_path, random_onnx) -> None:
    photos = photo_folder(tmp_path / "photos")
    out = tmp_path / "out"  # created by the run
    proc = subprocess.run([sys.executable, str(ROOT / "run_stream.py"), "--source", str(photos), "--output", f"{out}/",
                           "--model", str(random_onnx), "--headless", "--threads", "1"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert sorted(p.name for p in out.iterdir()) == ["p0.jpg", "p1.jpg", "p2.jpg"]
    for index in range(3):
        written = cv2.imread(str(out / f"p{index}.jpg"))
        assert written.shape == (120, 320, 3)
        assert np.abs(written[:, :160].astype(int) - cv2.imread(str(photos / f"p{index}.jpg")).astype(int)).mean() < 3
    assert "warning: broken.jpg failed" in proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("done: 4 images, 1 failed (broken.jpg: not an image") and last.endswith(f"wrote {out}/")


def test_glob_loads_the_model_once(tmp_path, random_onnx, monkeypatch) -> None:
    import stream.runtime.estimators

    photos = photo_folder(tmp_path / "photos", count=4, broken=False)
    (photos / "skip.png").write_bytes(cv2.imencode(".png", photo())[1].tobytes())
    loads: list[int] = []
    real = stream.runtime.estimators.make_estimator
    monkeypatch.setattr("stream.runtime.estimators.make_estimator", lambda settings: loads.append(1) or real(settings))
    out = tmp_path / "out"
    result = run(settings_for(str(photos / "p*.jpg"), random_onnx, output=out))
    assert result.exit_code == 0 and loads == [1]
    assert sorted(p.name for p in out.iterdir()) == ["p0.jpg", "p1.jpg", "p2.jpg", "p3.jpg"]
    assert summary(result) == f"done: 4 images; wrote {out}{os.sep}"


def test_output_on_top_of_the_inputs_is_refused_before_work(tmp_path, random_onnx, monkeypatch) -> None:
    photos = photo_folder(tmp_path / "photos", broken=False)
    before = {p.name: p.read_bytes() for p in photos.iterdir()}
    monkeypatch.setattr("stream.runtime.estimators.make_estimators", lambda *a: pytest.fail("model loaded"))
    for source in (str(photos), str(photos / "*.jpg"), str(photos / "p0.jpg")):
        with pytest.raises(OutputError, match="would overwrite the input"):
            run(settings_for(source, random_onnx, output=photos))
    assert {p.name: p.read_bytes() for p in photos.iterdir()} == before


@pytest.mark.parametrize("case,needle", [
    ("no-output", "pass --output DIR/"),
    ("output-is-an-image-name", "give a folder"),
    ("same-names", "distinct names"),
    ("no-images", "is a folder with no images in it"),
    ("glob-matches-nothing", "nothing matches"),
])
def test_bad_batches_fail_before_work(tmp_path, random_onnx, monkeypatch, case, needle) -> None:
    from stream.core.errors import InputError

    photo_folder(tmp_path / "a", count=1, broken=False)
    photo_folder(tmp_path / "b", count=1, broken=False)
    (tmp_path / "empty").mkdir()
    source, output = {
        "no-output": (str(tmp_path / "a"), None),
        "output-is-an-image-name": (str(tmp_path / "a"), tmp_path / "out.png"),
        "same-names": (str(tmp_path / "*" / "p0.jpg"), tmp_path / "out"),
        "no-images": (str(tmp_path / "empty"), tmp_path / "out"),
        "glob-matches-nothing": (str(tmp_path / "a" / "*.png"), tmp_path / "out"),
    }[case]
    monkeypatch.setattr("stream.runtime.estimators.make_estimators", lambda *a: pytest.fail("model loaded"))
    with pytest.raises(InputError, match=needle) as caught:
        run(settings_for(source, random_onnx, output=output))
    assert caught.value.exit_code == 2 and "\n" not in str(caught.value)


def test_window_stays_open_on_a_photo_until_the_user_quits(tmp_path) -> None:
    from tests.test_window import EchoDepth, FakeGui

    source = tmp_path / "in.png"
    cv2.imwrite(str(source), photo())
    polls = 40  # a video would close the window at its end; a photo waits for the user
    gui = FakeGui(keys=[-1] * polls + [ord("q")])
    settings = settings_for(str(source), Path("unused.onnx"), headless=False)
    result = run(settings, estimator=EchoDepth(), frontend=WindowFrontend(gui))
    assert result.exit_code == 0 and result.stats.displayed == 1
    assert len(gui.shown) >= 1 and gui.shown[0].shape == (120, 320, 3)
    assert not gui.keys  # every key was read: the window was still up when "q" came


def test_images_format_converts_every_output(tmp_path, random_onnx) -> None:
    photos = photo_folder(tmp_path / "photos", count=2, broken=False)
    out = tmp_path / "out"
    result = run(settings_for(str(photos), random_onnx, output=out, images={"format": "png"}))
    assert result.exit_code == 0
    assert sorted(p.name for p in out.iterdir()) == ["p0.png", "p1.png"]
    assert (out / "p0.png").read_bytes().startswith(b"\x89PNG")


def test_rerun_into_the_same_folder_says_once_that_outputs_are_replaced(tmp_path, random_onnx, caplog) -> None:
    photos = photo_folder(tmp_path / "photos", count=3, broken=False)
    out = tmp_path / "out"
    assert run(settings_for(str(photos), random_onnx, output=out)).exit_code == 0
    caplog.clear()
    with caplog.at_level("INFO", logger="stream"):
        assert run(settings_for(str(photos), random_onnx, output=out)).exit_code == 0
    notes = [r.getMessage() for r in caplog.records if "replaced" in r.getMessage()]
    assert notes == [f"note: 3 of the outputs exist in {out} and will be replaced"]
    assert not any(r.getMessage().startswith("source:") for r in caplog.records)


def test_folder_of_photos_keeps_depth_and_point_clouds_per_photo(tmp_path, random_onnx) -> None:
    from plyfile import PlyData

    photos = photo_folder(tmp_path / "photos", count=2, broken=False)
    out, depth, clouds = tmp_path / "out", tmp_path / "depth", tmp_path / "clouds"
    result = run(settings_for(str(photos), random_onnx, output=out, export={"depth_output": depth, "pointcloud": clouds}))
    assert result.exit_code == 0
    assert sorted(p.name for p in depth.glob("*.png")) == ["p0.png", "p1.png"]  # one 16-bit file each, not one overwritten
    assert cv2.imread(str(depth / "p1.png"), cv2.IMREAD_UNCHANGED).dtype == np.uint16
    assert len(PlyData.read(str(clouds / "p0.ply"))["vertex"]) > 0 and (clouds / "p1.ply").exists()


@pytest.mark.parametrize("extra,needle", [({"export": {"depth_output": "d.png"}}, "--depth-output"),
                                          ({"probe": {"points": [[1, 1]]}}, "--probe")])
def test_folder_of_photos_refuses_one_file_for_all(tmp_path, random_onnx, extra, needle) -> None:
    from stream.core.errors import ConfigError

    photos = photo_folder(tmp_path / "photos", count=2, broken=False)
    with pytest.raises(ConfigError, match=needle):
        run(settings_for(str(photos), random_onnx, output=tmp_path / "out", **extra))
