"""Hostile and odd input files: decompression bombs, pipes and devices, damaged photos, broken uploads (issue 23).

The files are made here, byte by byte: a PNG whose header declares 30000x30000 over 2 KB
of data, a JPEG header saying 65000x65000, a 60000x60000 1-bit PNG, a video declaring
12000x12000, named pipes (``os.mkfifo``). Runs that could eat the machine's memory if the
check regressed run the command line in a subprocess under an address-space limit
(``RLIMIT_AS``) and a timeout, so a regression fails the test instead of taking the machine
down; a pipe opened by mistake would block, so those run under a timeout too.
"""

from __future__ import annotations

import asyncio
import os
import resource
import struct
import subprocess
import sys
import threading
import time
import zlib
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from stream import launch
from stream.core.errors import SourceError
from stream.core.imageheader import declared_size
from stream.sources import open_source
from stream.sources.sniff import TooManyPixels
from stream.sources.still import read_image
from stream.web.camera import BrowserFeed, BrowserSource
from tests.test_app import settings_for
from tests.test_web_uploads import jpeg_bytes, serving

ROOT = Path(__file__).resolve().parent.parent
MEMORY_LIMIT = 4 * 1024**3  # bytes of address space a CLI run may take: a bomb decoded would need far more
TIMEOUT = 120.0  # seconds: a hang (a pipe opened for reading) fails the test rather than the suite


# -- hostile files, made here ---------------------------------------------------------

def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_declaring(path: Path, width: int, height: int, depth: int = 8) -> Path:
    """A valid-looking grey PNG whose IHDR declares ``width`` x ``height``, with a few rows of zeros as data."""
    rows = zlib.compress(b"\0" * (64 * (width * depth // 8 + 1)), 9)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, depth, 0, 0, 0, 0))
                     + _chunk(b"IDAT", rows) + _chunk(b"IEND", b""))
    return path


def jpeg_declaring(path: Path, width: int, height: int) -> Path:
    """A JPEG header (SOI, JFIF, a baseline SOF saying ``width`` x ``height``) and nothing after it but EOI."""
    jfif = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\0\x01\x01\0\0\x01\0\x01\0\0"
    sof = b"\xff\xc0" + struct.pack(">HBHHB", 11, 8, height, width, 1) + b"\x01\x11\x00"
    path.write_bytes(b"\xff\xd8" + jfif + sof + b"\xff\xd9")
    return path


def video_declaring(path: Path, width: int, height: int) -> Path:
    """A raw-video AVI of 64x48 frames whose headers (avih, strf) declare ``width`` x ``height``."""
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc=size=64x48:rate=10", "-frames:v", "3",
                    "-c:v", "rawvideo", "-pix_fmt", "bgr24", str(path)], check=True, timeout=60)
    data = bytearray(path.read_bytes())
    struct.pack_into("<II", data, data.find(b"avih") + 8 + 32, width, height)
    struct.pack_into("<ii", data, data.find(b"strf") + 8 + 4, width, height)
    path.write_bytes(bytes(data))
    return path


def photo(path: Path, seed: int = 0) -> Path:
    image = np.random.default_rng(seed).integers(0, 255, (60, 80, 3)).astype(np.uint8)
    assert cv2.imwrite(str(path), cv2.GaussianBlur(image, (9, 9), 3))
    return path


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


def cli(*args: str | Path) -> tuple[int, list[str]]:
    """``run_stream.py ARGS --headless`` in a subprocess under the memory limit: (exit code, stderr lines).

    The engine is fixed (onnxruntime fp32, one thread): no measuring of engines in a test.
    """
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, str(ROOT / "run_stream.py"), *map(str, args), "--headless", "--engine",
                           "onnxruntime", "--precision", "fp32", "--threads", "1", "--set", "display.progress=false"],
                          capture_output=True, text=True, timeout=TIMEOUT, preexec_fn=_limit_memory, env=env, cwd=ROOT)
    return proc.returncode, proc.stderr.strip().splitlines()


def in_process(capsys: pytest.CaptureFixture, *args: str | Path) -> tuple[int, list[str]]:
    """``run_stream.py ARGS --headless`` in this process, for files that cannot block or eat memory."""
    code = launch.main([*map(str, args), "--headless", "--engine", "onnxruntime", "--precision", "fp32",
                        "--threads", "1", "--set", "display.progress=false"])
    return code, capsys.readouterr().err.strip().splitlines()


def one_error_line(lines: list[str], *needles: str) -> str:
    assert len(lines) == 1 and lines[0].startswith("error: "), lines
    for needle in needles:
        assert needle in lines[0], f"{needle!r} not in {lines[0]!r}"
    return lines[0]


# -- item 1: decompression bombs ------------------------------------------------------

@pytest.mark.parametrize("suffix,channels,params", [
    (".png", 3, []), (".png", 1, []), (".jpg", 3, []), (".jpg", 3, [cv2.IMWRITE_JPEG_PROGRESSIVE, 1]), (".bmp", 3, []),
    (".bmp", 4, []), (".tif", 3, []), (".tiff", 1, []), (".webp", 3, []), (".webp", 3, [cv2.IMWRITE_WEBP_QUALITY, 101]),
    (".webp", 4, []),
])
def test_the_size_a_header_declares_is_the_size_opencv_decodes(tmp_path, suffix, channels, params) -> None:
    """No photo is refused for a size it does not have: lossy, lossless and alpha WebP, progressive JPEG, float TIFF."""
    image = np.random.default_rng(1).integers(0, 255, (37, 91, channels)).astype(np.uint8).squeeze()
    if suffix == ".tiff":
        image = image.astype(np.float32) / 255
    path = tmp_path / f"p{suffix}"
    assert cv2.imwrite(str(path), image, params)
    with path.open("rb") as handle:
        header = declared_size(handle)
    assert header is not None and header[1:] == (91, 37)
    assert read_image(path, max_pixels=91 * 37).shape == (37, 91, 3)
    with pytest.raises(TooManyPixels, match="91x37"):
        read_image(path, max_pixels=91 * 37 - 1)


@pytest.mark.parametrize("name,make,size", [
    ("bomb.png", lambda p: png_declaring(p, 30000, 30000), "30000x30000"),  # under OpenCV's cap: decoded, 24 GB
    ("huge-1bit.png", lambda p: png_declaring(p, 60000, 60000, depth=1), "60000x60000"),  # over it: cv2.error
    ("huge.jpg", lambda p: jpeg_declaring(p, 65000, 65000), "65000x65000"),
])
def test_decompression_bomb_photo_is_one_line_exit_2_before_decoding(tmp_path, random_onnx, name, make, size) -> None:
    bomb = make(tmp_path / name)
    out = tmp_path / "out.png"
    code, lines = cli("--source", bomb, "--output", out, "--model", random_onnx)
    assert code == 2
    one_error_line(lines, name, size, "images.max_pixels")
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]  # no output, no hidden partial file


def test_photo_folder_skips_a_bomb_and_writes_the_photo_after_it(tmp_path, random_onnx) -> None:
    folder = tmp_path / "photos"
    folder.mkdir()
    png_declaring(folder / "a-bomb.png", 30000, 30000)
    photo(folder / "b-good.jpg")
    jpeg_declaring(folder / "c-huge.jpg", 65000, 65000)
    photo(folder / "d-good.png", seed=1)
    out = tmp_path / "out"
    code, lines = cli("--source", folder, "--output", f"{out}/", "--model", random_onnx)
    assert code == 2, lines  # as for any folder with a broken photo (README)
    assert sorted(p.name for p in out.iterdir()) == ["b-good.jpg", "d-good.png"]
    assert cv2.imread(str(out / "b-good.jpg")).shape == (60, 160, 3)
    assert any("a-bomb.png failed" in line and "30000x30000" in line and "images.max_pixels" in line for line in lines)
    assert lines[-1].startswith("done: 4 images, 2 failed (a-bomb.png: declares 30000x30000 pixels")
    assert not any("Traceback" in line for line in lines)


def test_synthetic_source_larger_than_max_pixels_is_refused(tmp_path) -> None:
    code, lines = cli("--source", "synthetic:40000x40000", "--max-frames", "1", "--model", tmp_path / "never-loaded.onnx")
    assert code == 2
    one_error_line(lines, "synthetic:40000x40000", "40000x40000", "images.max_pixels")


def test_video_declaring_more_than_max_pixels_is_refused_when_opened(tmp_path) -> None:
    clip = video_declaring(tmp_path / "big.avi", 12000, 12000)
    code, lines = cli("--source", clip, "--output", tmp_path / "out.mp4", "--model", tmp_path / "never-loaded.onnx")
    assert code == 2
    one_error_line(lines, "big.avi", "12000x12000", "images.max_pixels")
    assert not (tmp_path / "out.mp4").exists()


def growing_video(path: Path) -> Path:
    """An MJPEG AVI whose header and first 5 frames are 64x48, then 3 frames of 320x240 (a sender that restarts bigger)."""
    parts = []
    for size, frames in (("64x48", 5), ("320x240", 3)):
        part = path.with_name(f"part-{size}.avi")
        subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", f"testsrc=size={size}:rate=10", "-frames:v",
                        str(frames), "-c:v", "mjpeg", str(part)], check=True, timeout=60)
        parts.append(part)
    listing = path.with_name("parts.txt")
    listing.write_text("".join(f"file '{part}'\n" for part in parts))
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "concat", "-safe", "0", "-i", str(listing), "-c", "copy", str(path)],
                   check=True, timeout=60)
    return path


def test_video_frame_growing_past_max_pixels_mid_stream_is_one_line_and_the_output_is_kept(tmp_path, random_onnx,
                                                                                           capsys) -> None:
    clip = growing_video(tmp_path / "grow.avi")
    out = tmp_path / "out.mp4"
    code, lines = in_process(capsys, "--source", clip, "--output", out, "--model", random_onnx,
                             "--set", "images.max_pixels=5000")  # 64x48 = 3072 fits, 320x240 does not
    assert code == 2
    assert lines[-1].startswith("error: ") and "grow.avi grows past images.max_pixels (0.005 megapixels)" in lines[-1]
    with av.open(str(out)) as container:
        assert sum(1 for _ in container.decode(video=0)) == 5  # the frames before it, finalized


def test_images_max_pixels_is_validated_and_applies_to_any_photo(tmp_path, capsys) -> None:
    small = photo(tmp_path / "small.jpg")  # 80x60 = 4800 pixels
    code, lines = in_process(capsys, "--source", small, "--output", tmp_path / "out.png",
                             "--set", "images.max_pixels=4000", "--model", tmp_path / "never-loaded.onnx")
    assert code == 2
    one_error_line(lines, "small.jpg", "80x60", "images.max_pixels (0.004 megapixels)")
    for bad in ("0", "true", "2000000000", "lots"):
        code, lines = in_process(capsys, "--source", small, "--set", f"images.max_pixels={bad}")
        assert code == 2
        one_error_line(lines, "images.max_pixels")


def test_image_sequence_frame_declaring_more_than_max_pixels_is_one_line(tmp_path) -> None:
    frames = tmp_path / "frames"
    frames.mkdir()
    photo(frames / "frame_0000.jpg")
    jpeg_declaring(frames / "frame_0001.jpg", 65000, 65000)
    with pytest.raises(SourceError) as caught, open_source(str(frames / "frame_%04d.jpg")) as source:
        while source.read() is not None:
            pass
    message = str(caught.value)
    assert "\n" not in message and "frame_0001.jpg declares 65000x65000 pixels" in message
    assert "images.max_pixels" in message and "frame 1 of" in message


def test_upload_of_a_decompression_bomb_is_413_and_the_server_keeps_serving(tmp_path, random_onnx) -> None:
    settings = settings_for("synthetic", random_onnx, uploads={"folder": tmp_path})
    bomb = png_declaring(tmp_path / "bomb.png", 30000, 30000).read_bytes()
    huge = jpeg_declaring(tmp_path / "huge.jpg", 65000, 65000).read_bytes()
    clip = video_declaring(tmp_path / "big.avi", 12000, 12000).read_bytes()

    async def scenario() -> None:
        async with serving(settings) as server:
            for data, name in ((bomb, "bomb.png"), (huge, "huge.jpg")):
                status, body = await server.post_file("/api/photo", data, name, "image/png")
                assert status == 413, body
                assert "images.max_pixels" in body["error"] and "x" in body["error"] and str(tmp_path) not in body["error"]
            status, body = await server.post_file("/api/video", clip, "big.avi", "video/x-msvideo")
            assert status == 413 and "12000x12000" in body["error"], body
            assert server.files_left() == [] and server.uploads.estimator.loaded is False
            status, body = await server.post_file("/api/photo", jpeg_bytes(), "small.jpg", "image/jpeg")
            assert status == 200, body  # the server goes on serving

    asyncio.run(scenario())


# -- item 10: each thing named for what it is; the command line and the web judge alike ----------

@pytest.mark.parametrize("make,needle", [
    (lambda tmp: os.mkfifo(tmp / "pipe.mp4") or tmp / "pipe.mp4", "is a named pipe (FIFO), not a file"),
    (lambda tmp: os.mkfifo(tmp / "pipe.jpg") or tmp / "pipe.jpg", "is a named pipe (FIFO), not a file"),
    (lambda tmp: Path("/dev/zero"), "is a device, not a file"),
    (lambda tmp: Path("/dev/urandom"), "is a device, not a file"),
])
def test_pipes_and_devices_as_source_are_named_for_what_they_are(tmp_path, capsys, make, needle) -> None:
    source = make(tmp_path)
    args = ("--source", source, "--output", tmp_path / "out.mp4", "--model", tmp_path / "never-loaded.onnx")
    code, lines = cli(*args) if "pipe" in needle else in_process(capsys, *args)  # a pipe opened by mistake blocks
    assert code == 2
    one_error_line(lines, str(source), needle, "--source")
    assert "empty" not in lines[0]


def test_empty_photo_is_called_empty_not_a_video(tmp_path, capsys) -> None:
    (tmp_path / "empty.jpg").write_bytes(b"")
    code, lines = in_process(capsys, "--source", tmp_path / "empty.jpg", "--output", tmp_path / "out.png",
                             "--model", tmp_path / "never-loaded.onnx")
    assert code == 2
    line = one_error_line(lines, "empty.jpg", "is empty (0 bytes)")
    assert "video" not in line


@pytest.mark.parametrize("flag,make,needle", [
    ("--model", lambda tmp: tmp, "is a folder"),
    ("--model", lambda tmp: Path("/dev/zero"), "is a device, not a file"),
    ("--model", lambda tmp: os.mkfifo(tmp / "pipe.onnx") or tmp / "pipe.onnx", "is a named pipe (FIFO), not a file"),
    ("--weights", lambda tmp: tmp, "is a folder"),
])
def test_model_or_weights_that_are_no_file_are_named_for_what_they_are(tmp_path, capsys, flag, make, needle) -> None:
    path = make(tmp_path)
    args = ("--source", "synthetic", "--max-frames", "1", flag, path)
    code, lines = cli(*args) if "pipe" in needle else in_process(capsys, *args)
    assert code == 2
    line = one_error_line(lines, f"{flag} {path}", needle)
    assert "not found" not in line


def float32_tiff(path: Path) -> Path:
    """A one-channel float TIFF in 0..1, as scientific cameras and depth tools write them."""
    assert cv2.imwrite(str(path), np.linspace(0.0, 1.0, 60 * 80, dtype=np.float32).reshape(60, 80))
    return path


def cut_jpeg(path: Path) -> Path:
    """A JPEG cut after half its bytes (a half-copied file): its header is whole, its pixels are not."""
    ok, data = cv2.imencode(".jpg", np.random.default_rng(3).integers(0, 255, (120, 160, 3)).astype(np.uint8))
    assert ok
    path.write_bytes(data.tobytes()[: len(data) // 2])
    return path


def test_float32_tiff_is_a_photo_on_the_command_line_and_on_the_web(tmp_path, random_onnx, capsys) -> None:
    tiff = float32_tiff(tmp_path / "float.tif")
    out = tmp_path / "out.png"
    code, lines = in_process(capsys, "--source", tiff, "--output", out, "--model", random_onnx)
    assert code == 0, lines
    side = cv2.imread(str(out))
    assert side.shape == (60, 160, 3)
    assert side[0, :80].max() < 8 and side[59, :80].min() > 245  # 0..1 shown as 0..255, not cut to black
    settings = settings_for("synthetic", random_onnx, uploads={"folder": tmp_path})

    async def scenario() -> None:
        async with serving(settings) as server:
            status, body = await server.post_file("/api/photo", tiff.read_bytes(), "float.tif", "image/tiff")
            assert status == 200, body
            assert (body["width"], body["height"]) == (80, 60)

    asyncio.run(scenario())


def test_truncated_jpeg_is_refused_alike_by_the_command_line_and_the_web(tmp_path, random_onnx, capsys) -> None:
    cut = cut_jpeg(tmp_path / "cut.jpg")
    out = tmp_path / "out.png"
    code, lines = in_process(capsys, "--source", cut, "--output", out, "--model", random_onnx)
    assert code == 2
    line = one_error_line(lines, "cut.jpg", "is a damaged or cut-short JPEG")
    assert not out.exists()
    settings = settings_for("synthetic", random_onnx, uploads={"folder": tmp_path})

    async def scenario() -> None:
        async with serving(settings) as server:
            status, body = await server.post_file("/api/photo", cut.read_bytes(), "cut.jpg", "image/jpeg")
            assert status == 415, body
            reason = line.split("cut.jpg ", 1)[1].split(";")[0]
            assert body["error"] == f"this file {reason}; choose another photo"  # the same judgement, in the page's words
            assert server.files_left() == []

    asyncio.run(scenario())


# -- item 9: a broken multipart body ----------------------------------------------------

def test_multipart_body_without_its_boundary_is_400_json_and_the_server_keeps_serving(tmp_path, random_onnx) -> None:
    settings = settings_for("synthetic", random_onnx, uploads={"folder": tmp_path})
    body = b'--XyZ\r\nContent-Disposition: form-data; name="file"; filename="a.jpg"\r\n\r\n' + jpeg_bytes() + b"\r\n--XyZ--\r\n"

    async def scenario() -> None:
        async with serving(settings) as server:
            for content_type in ("multipart/form-data; boundary=", "multipart/form-data; boundary=Other"):
                for route in ("/api/photo", "/api/video"):
                    async with server.http.post(server.url(route), data=body,
                                                headers={"Content-Type": content_type}) as response:
                        assert response.status == 400, await response.text()
                        assert "boundary" in (await response.json())["error"]
            assert server.files_left() == []
            status, answer = await server.post_file("/api/photo", jpeg_bytes(), "a.jpg", "image/jpeg")
            assert status == 200, answer

    asyncio.run(scenario())


def test_browser_camera_frame_declaring_more_than_max_pixels_is_refused_and_the_next_is_taken(tmp_path) -> None:
    feed, stop = BrowserFeed(), threading.Event()
    source = BrowserSource(feed, 64, 48, None, stop)
    notes: list[str | None] = []
    frames: list = []
    reader = threading.Thread(target=lambda: frames.append(source.read()), daemon=True)
    reader.start()
    bombs = (jpeg_declaring(tmp_path / "huge.jpg", 65000, 65000), png_declaring(tmp_path / "huge.png", 60000, 60000, 1))
    for count, bomb in enumerate(bombs, 1):
        feed.offer(bomb.read_bytes(), notes.append)
        deadline = time.monotonic() + 30
        while len(notes) < count and reader.is_alive() and time.monotonic() < deadline:  # one frame in flight, as the page
            time.sleep(0.01)
    feed.offer(jpeg_bytes(), notes.append)
    reader.join(30)
    stop.set()
    assert not reader.is_alive() and frames and frames[0] is not None and frames[0].image.shape == (48, 64, 3)
    assert len(notes) == 3 and notes[2] is None, notes
    assert all("declares" in str(note) and "images.max_pixels" in str(note) for note in notes[:2]), notes
