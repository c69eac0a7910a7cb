"""One of each: where two or three copies used to decide the same thing, one does, and every user agrees.

Each test here would fail if a second copy came back or a caller stopped using the one
there is: the extension list, the writable-folder check, the folder/glob expansion, the
output names, per-frame scaling, the int8 choice, the spin default, snapshot names.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from stream.core import media
from stream.core.errors import OutputError
from stream.sinks import check_output_path
from stream.sources.registry import is_photo
from stream.sources.still import looks_like_image

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "stream"


def sources_of_package() -> dict[Path, str]:
    return {path: path.read_text() for path in PACKAGE.rglob("*.py")}


# -- 1. the one list of media extensions ------------------------------------------------


def test_one_extension_list_drives_the_photo_input_check_and_the_image_output_check(tmp_path) -> None:
    for suffix in media.IMAGE_EXTENSIONS:  # a name is enough: the content is not a picture
        named = tmp_path / f"photo{suffix.upper()}"
        named.write_bytes(b"not a picture")
        assert looks_like_image(named) and is_photo(str(named)), suffix
        check_output_path(tmp_path / f"out{suffix}", image_source=True)
        with pytest.raises(OutputError, match="is one image"):
            check_output_path(tmp_path / f"out{suffix}", image_source=False)
    other = tmp_path / "photo.gif"
    other.write_bytes(b"not a picture")
    assert not looks_like_image(other)
    with pytest.raises(OutputError, match="no image or video extension"):
        check_output_path(tmp_path / "out.gif", image_source=True)


def test_no_second_list_of_extensions_or_signatures_in_the_package() -> None:
    home = PACKAGE / "core" / "media.py"
    for path, text in sources_of_package().items():
        if path == home:
            continue
        for group in re.findall(r'\(((?:\s*"\.\w+",?){3,})\s*\)', text):
            listed = set(re.findall(r'"(\.\w+)"', group))
            known = set(media.IMAGE_EXTENSIONS + media.VIDEO_INPUT_EXTENSIONS)
            assert len(listed & known) < 3, f"{path} lists media extensions {sorted(listed)}; use stream.core.media"
        assert "b\"\\x89PNG" not in text, f"{path} lists picture signatures; use stream.core.media.image_suffix"
        assert not re.search(r"^(GLOB_CHARACTERS|\w*EXTENSIONS)\s*=", text, re.M), f"{path} defines its own list"


def test_upload_sniffing_and_the_photo_source_know_the_same_pictures(tmp_path) -> None:
    from stream.web.sniff import image_suffix

    heads = [b"\xff\xd8\xff\xe0", b"\x89PNG\r\n\x1a\n", b"BM", b"II*\x00", b"MM\x00*", b"RIFF\x00\x00\x00\x00WEBP", b"GIF89a"]
    for index, head in enumerate(heads):
        unnamed = tmp_path / f"file{index}"
        unnamed.write_bytes(head + b"\x00" * 16)
        assert looks_like_image(unnamed) == (image_suffix(head) is not None), head


# -- 3. folder and glob expansion -------------------------------------------------------


def mixed(folder: Path) -> Path:
    (folder / "sub").mkdir(parents=True)
    for name in ("b.jpg", "a.png", ".hidden.png", "sub/c.jpg", "clip.mp4", "notes.txt"):
        (folder / name).write_bytes(b"\xff\xd8\xff" if name.endswith(".jpg") else b"x")
    return folder


def test_photo_folders_and_batch_inputs_are_found_by_the_same_rules(tmp_path) -> None:
    from stream.batch.inputs import find_inputs
    from stream.runtime.photos import find_images

    folder = mixed(tmp_path / "in")
    assert [p.name for p in find_images(str(folder))] == ["a.png", "b.jpg"]  # its own files, photos only, no hidden
    batch = [(item.path.relative_to(folder).as_posix(), item.photo) for item in find_inputs([str(folder)])]
    assert batch == [("a.png", True), ("b.jpg", True), ("clip.mp4", False), ("sub/c.jpg", True)]  # walked, hidden skipped
    assert [p.name for p in find_images(str(folder / "*.*"))] == ["a.png", "b.jpg"]
    assert [item.path.name for item in find_inputs([str(folder / "**" / "*.jpg")])] == ["b.jpg", "c.jpg"]


def test_one_expansion_function_in_sources() -> None:
    texts = sources_of_package()
    users = [path.relative_to(PACKAGE).as_posix() for path, text in texts.items() if "glob.glob(" in text]
    assert users == ["sources/expand.py"]


# -- 2. the one writable-folder check ---------------------------------------------------


def test_every_output_folder_is_proven_writable_by_the_one_check_naming_its_flag(tmp_path, monkeypatch) -> None:
    import errno

    from stream.batch.jobs import prepare_output_dir
    from stream.config.settings import Settings
    from stream.export.checks import check_paths
    from stream.runtime.photos import prepare_folder

    def refused(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr("stream.core.staging.tempfile.mkstemp", refused)
    out = tmp_path / "out"
    calls = {
        "--output": lambda: check_output_path(tmp_path / "x.mp4"),
        "--depth-output": lambda: check_paths(tmp_path / "d.mkv", None),
        "--pointcloud": lambda: check_paths(None, tmp_path / "c.ply"),
        "--output-dir": lambda: prepare_output_dir(out, []),
    }
    for flag, call in calls.items():
        with pytest.raises(OutputError) as caught:
            call()
        message = str(caught.value)
        assert message.startswith(f"{flag}: folder {tmp_path}"), message
        assert message.endswith(f"is not writable (Read-only file system); choose another {flag}"), message
    with pytest.raises(OutputError, match=r"^--output: folder .*out is not writable \(Read-only file system\)"):
        prepare_folder(Settings(source=str(tmp_path), output=out))


def test_one_writable_probe_in_the_package() -> None:
    users = [path.relative_to(PACKAGE).as_posix() for path, text in sources_of_package().items() if '".probe"' in text]
    assert users == ["core/staging.py"]


# -- 4. output planning -----------------------------------------------------------------


def test_photo_folders_and_batches_name_outputs_and_refuse_collisions_alike(tmp_path) -> None:
    from stream.batch.inputs import InputFile
    from stream.batch.jobs import plan_jobs
    from stream.config.settings import Settings
    from stream.runtime.photos import plan_outputs

    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "p.JPG").write_bytes(b"\xff\xd8\xff")
    (tmp_path / "a" / "clip.mov").write_bytes(b"x")
    one, other, clip = tmp_path / "a" / "p.JPG", tmp_path / "b" / "p.JPG", tmp_path / "a" / "clip.mov"
    settings = Settings(images={"format": "png"})
    out = tmp_path / "out"
    assert [target.name for _, target in plan_outputs([one], out, "png")] == ["p.png"]
    jobs = plan_jobs([InputFile(one, True), InputFile(clip, False)], out, settings, "mp4", None)
    assert [job.output.name for job in jobs] == ["p.png", "clip.mp4"]

    with pytest.raises(OutputError, match=r"would both be written as .*p\.png; give --source images with distinct names"):
        plan_outputs([one, other], out, "png")
    with pytest.raises(OutputError, match=r"would overwrite the input .*p\.JPG; choose another --output folder"):
        plan_outputs([one], tmp_path / "a")
    flat = [InputFile(one, True), InputFile(tmp_path / "a" / "p.jpeg", True)]
    (tmp_path / "a" / "p.jpeg").write_bytes(b"\xff\xd8\xff")
    with pytest.raises(OutputError, match=r"would both be written as .*p\.png; rename one of them"):
        plan_jobs(flat, out, settings, "mp4", None)
    texts = sources_of_package()
    assert [p.relative_to(PACKAGE).as_posix() for p, text in texts.items() if "would both be written" in text] == ["runtime/plan.py"]


# -- 5. per-frame min-max scaling -------------------------------------------------------


def test_the_8_bit_per_frame_depth_is_the_frame_normalisers_index_and_its_old_numbers() -> None:
    import cv2
    import numpy as np

    from stream.view.normalize import PerFrame, make_normaliser
    from stream.view.render import colour_index, colourise, normalise_depth

    rng = np.random.default_rng(5)
    depth = (rng.random((48, 64)) * 900 + 100).astype(np.float32)
    grey = normalise_depth(depth)
    index = make_normaliser("frame")(depth).index
    assert np.array_equal(grey, cv2.convertScaleAbs(index, alpha=255.0))  # what a --normalize frame run shows
    assert np.array_equal(colourise(depth, "gray")[..., 0], colour_index(index, "gray")[..., 0])
    lo, hi = float(depth.min()), float(depth.max())
    before = cv2.convertScaleAbs(depth, alpha=255.0 / (hi - lo), beta=-lo * 255.0 / (hi - lo))  # the old own formula
    assert np.abs(grey.astype(int) - before.astype(int)).max() <= 1 and np.mean(grey != before) < 1e-3
    assert grey.min() == 0 and grey.max() == 255
    assert not normalise_depth(np.full((4, 4), 3.0, np.float32)).any()  # flat -> 0, as before
    with_nan = depth.copy()
    with_nan[0, 0] = np.nan
    shown = normalise_depth(with_nan)  # one bad pixel no longer blanks the frame: far, the rest scaled as ever
    assert shown[0, 0] == 0 and shown.max() == 255 and np.abs(shown[1:].astype(int) - grey[1:].astype(int)).max() <= 3
    assert isinstance(make_normaliser("frame"), PerFrame)


def test_one_min_max_in_the_view() -> None:
    texts = sources_of_package()
    users = [p.relative_to(PACKAGE).as_posix() for p, text in texts.items() if "convertScaleAbs(depth" in text or "np.min(depth)" in text]
    assert users == ["view/normalize.py"]


# -- 6. the int8 model choice -----------------------------------------------------------


def tiny_int8_model(path: Path) -> Path:
    """An ONNX graph holding a QuantizeLinear node: enough for 'this model already is int8'."""
    import onnx
    from onnx import TensorProto, helper

    node = helper.make_node("QuantizeLinear", ["x", "scale", "zero"], ["y"])
    graph = helper.make_graph([node], "tiny", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
                              [helper.make_tensor_value_info("y", TensorProto.UINT8, [1])],
                              [helper.make_tensor("scale", TensorProto.FLOAT, [], [1.0]),
                               helper.make_tensor("zero", TensorProto.UINT8, [], [0])])
    onnx.save(helper.make_model(graph), str(path))
    return path


def test_every_int8_path_takes_an_int8_model_as_it_is_through_one_decision(tmp_path, monkeypatch, capsys) -> None:
    import stream.engines.quantize as quantize
    from stream.model.__main__ import main
    from stream.model.resolve import resolve_model

    model = tiny_int8_model(tmp_path / "mine-int8.onnx")
    monkeypatch.setattr(quantize, "quantize_model", lambda *a, **k: pytest.fail("an int8 model quantised again"))
    assert quantize.model_for_precision(model, "int8", tmp_path) == model
    assert resolve_model(model, None, tmp_path, precision="int8", progress=False) == model
    assert quantize.model_for_precision(model, "fp32", tmp_path) == model
    assert main(["quantize", "--input", str(model), "--output", str(tmp_path / "again.onnx"), "--frames", "2"]) == 2
    assert "already int8" in capsys.readouterr().err and not (tmp_path / "again.onnx").exists()
    texts = sources_of_package()
    assert [p.relative_to(PACKAGE).as_posix() for p, text in texts.items() if "is_quantized(" in text] == ["engines/quantize.py"]


# -- 7. the ONNX Runtime spin default ---------------------------------------------------


def test_onnx_runtime_does_not_spin_unless_asked_and_the_default_lives_in_the_engine() -> None:
    import inspect

    from stream.engines import make_engine
    from stream.engines.onnxruntime import SPIN, OnnxRuntimeEstimator

    assert SPIN is False  # README "Engines": no spin-wait between frames
    assert inspect.signature(OnnxRuntimeEstimator).parameters["spin"].default is SPIN
    assert inspect.signature(make_engine).parameters["spin"].default is SPIN
    texts = sources_of_package()
    assert not [p for p, text in texts.items() if re.search(r"spin: bool = (True|False)", text)]


# -- 8. snapshot names ------------------------------------------------------------------


def test_window_snapshots_clouds_and_page_snapshots_share_one_name_that_never_repeats(tmp_path, monkeypatch) -> None:
    import numpy as np

    from stream.export.snapshot import LatestCloud
    from stream.gui.window import Window
    from tests.test_window import FakeGui

    monkeypatch.setattr("stream.export.snapshot.write_pointcloud", lambda path, *a: path.write_bytes(b"ply") or 1)
    import time
    from types import SimpleNamespace

    frozen = SimpleNamespace(time=lambda: 1_700_000_000.25, strftime=time.strftime, localtime=time.localtime)
    monkeypatch.setattr("stream.core.media.time", frozen)  # every save in one millisecond
    window = Window("test", snapshot_dir=tmp_path, gui=FakeGui(), screen=(320, 200))
    window._last = np.zeros((8, 8, 3), np.uint8)
    cloud = LatestCloud(tmp_path)
    cloud.write_depth(SimpleNamespace(frame=SimpleNamespace(image=None), depth=None), None)  # type: ignore[arg-type]
    saved = [window.save_snapshot(), cloud.save(), window.save_snapshot(), cloud.save()]
    names = [path.name for path in saved if path is not None]
    assert len(names) == 4 and len({Path(name).stem for name in names}) == 4  # a snapshot and a cloud never share a stem
    pattern = r"depth-\d{8}-\d{6}-250-(\d{3,})\.(png|ply)"
    assert all(re.fullmatch(pattern, name) for name in names), names
    numbers = [int(re.fullmatch(pattern, name).group(1)) for name in names]  # type: ignore[union-attr]
    assert numbers == sorted(numbers)
    texts = sources_of_package()
    assert [p.relative_to(PACKAGE).as_posix() for p, text in texts.items() if "%Y%m%d-%H%M%S" in text] == ["core/media.py"]
    assert "snapshot_name(" in (PACKAGE / "web" / "handlers.py").read_text()


# -- 9. the bench commands' ends ---------------------------------------------------------


def test_bench_commands_share_the_json_flag_and_the_report_writing(tmp_path, capsys) -> None:
    import json

    from stream.bench import batch, main
    from stream.bench.report import publish

    for module in (main, batch):
        args = module.build_parser().parse_args(["--json", str(tmp_path / "r.json")])
        assert args.json == tmp_path / "r.json"
    assert publish({"fps": 12.5}, "table", tmp_path / "r.json") == 0
    assert capsys.readouterr().out == "table\n" and json.loads((tmp_path / "r.json").read_text()) == {"fps": 12.5}
    assert main.main(["--flicker-only", "--json", str(tmp_path / "f.json")]) == 0
    assert "flicker" in json.loads((tmp_path / "f.json").read_text())
    texts = sources_of_package()
    assert [p.relative_to(PACKAGE).as_posix() for p, text in texts.items() if "json.dumps(report" in text] == ["bench/report.py"]
    assert [p.relative_to(PACKAGE).as_posix() for p, text in texts.items() if '"--json"' in text] == ["bench/report.py"]


def test_one_atomic_writer_for_whole_files(tmp_path) -> None:
    """Exports, downloads, int8 copies and pictures go through ``core.staging.writing``: no mkstemp-and-rename of their own."""
    from stream.core.staging import writing

    final = tmp_path / "model.onnx"
    final.write_bytes(b"old")
    with pytest.raises(RuntimeError), writing(final) as temporary:
        temporary.write_bytes(b"half")
        raise RuntimeError("the exporter failed")
    assert final.read_bytes() == b"old" and sorted(p.name for p in tmp_path.iterdir()) == ["model.onnx"]
    with writing(final, suffix=".part") as temporary:
        assert temporary.name.startswith(".model.onnx.") and temporary.name.endswith(".part")
        temporary.write_bytes(b"new")
    assert final.read_bytes() == b"new" and sorted(p.name for p in tmp_path.iterdir()) == ["model.onnx"]
    for path, text in sources_of_package().items():
        if path.name != "staging.py":
            assert "mkstemp(" not in text, f"{path} makes its own temporary file; use core.staging.writing"
