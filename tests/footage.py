"""Generated footage with real-world defects, and servers that behave like real senders.

Rotated phone clips, colour patches encoded with a known matrix and range, HDR (HLG and
PQ) patch clips with FFmpeg's own SDR conversion of them, image sequences, an HTTP server
that streams like a live source (no length, scripted drops), a UDP MPEG-TS sender that can
be stopped and restarted, and a live HLS playlist written by FFmpeg itself. Everything is tiny and generated,
so tests know exactly what each frame must decode to.
"""

from __future__ import annotations

import http.server
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from tests.media import AUDIO_RATE, pattern_frame, serve_directory

# Saturated colours (BGR), where decoding with the wrong matrix is off by 10-60 levels.
PATCHES = [(0, 0, 255), (0, 255, 0), (255, 0, 0), (0, 255, 255), (255, 255, 0), (255, 0, 255), (40, 120, 230),
           (128, 128, 128)]
PATCH = 64  # pixels a side: whole chroma blocks, so subsampling does not blur the centres
MATRICES = {"bt601": (0.299, 0.114, 6), "bt709": (0.2126, 0.0722, 1), "bt2020": (0.2627, 0.0593, 9)}  # Kr, Kb, tag


def rotated_clip(path: Path, degrees: int, hflip: bool = False, vflip: bool = False, width: int = 96,
                 height: int = 64, frames: int = 3, fps: int = 25) -> Path:
    """Pattern frames stored as coded, with a display matrix asking for ``degrees`` counter-clockwise and flips."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps, options={"preset": "ultrafast", "crf": "12"})
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.set_display_rotation(degrees, hflip=hflip, vflip=vflip)
        for index in range(frames):
            frame = av.VideoFrame.from_ndarray(pattern_frame(index, width, height), format="bgr24")
            frame.pts, frame.time_base = index, Fraction(1, fps)
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


def upright(image: np.ndarray, degrees: int, hflip: bool = False, vflip: bool = False) -> np.ndarray:
    """What a player shows: ``image`` turned ``degrees`` counter-clockwise, then mirrored."""
    out = np.rot90(image, k=(degrees // 90) % 4)
    if hflip:
        out = out[:, ::-1]
    if vflip:
        out = out[::-1]
    return np.ascontiguousarray(out)


def patch_picture(width: int, height: int) -> np.ndarray:
    """The BGR picture of ``PATCHES`` laid out in PATCH-sized squares (repeated to fill the frame)."""
    image = np.zeros((height, width, 3), np.uint8)
    for row in range(0, height, PATCH):
        for col in range(0, width, PATCH):
            image[row:row + PATCH, col:col + PATCH] = PATCHES[(row // PATCH * 7 + col // PATCH) % len(PATCHES)]
    return image


def bgr_to_yuv420(image: np.ndarray, matrix: str, full_range: bool) -> np.ndarray:
    """Exact YUV 4:2:0 (planar, as PyAV's ``yuv420p`` ndarray) of ``image`` with the given matrix and range."""
    kr, kb, _ = MATRICES[matrix]
    b, g, r = (image[..., i].astype(np.float64) / 255 for i in range(3))
    y = kr * r + (1 - kr - kb) * g + kb * b
    cb, cr = (b - y) / (2 * (1 - kb)), (r - y) / (2 * (1 - kr))
    if full_range:
        planes = (255 * y, 128 + 255 * cb, 128 + 255 * cr)
    else:
        planes = (16 + 219 * y, 128 + 224 * cb, 128 + 224 * cr)
    y8, u8, v8 = (np.clip(np.rint(p), 0, 255).astype(np.uint8) for p in planes)
    height, width = y8.shape
    u8 = cv2.resize(u8, (width // 2, height // 2), interpolation=cv2.INTER_AREA)
    v8 = cv2.resize(v8, (width // 2, height // 2), interpolation=cv2.INTER_AREA)
    return np.concatenate([y8, u8.reshape(height // 4, width), v8.reshape(height // 4, width)])


def colour_clip(path: Path, width: int, height: int, matrix: str, tagged: bool, full_range: bool = False,
                codec: str = "libx264", frames: int = 2) -> Path:
    """Colour patches encoded with ``matrix`` and range (lossless H.264, or MJPEG), tagged or not.

    Full range is ``yuvj420p`` for MJPEG (the format says it) and ``yuv420p`` plus a range
    tag for H.264 (as phones record).
    """
    yuv = bgr_to_yuv420(patch_picture(width, height), matrix, full_range)
    pix_fmt = "yuvj420p" if codec == "mjpeg" else "yuv420p"
    with av.open(str(path), "w") as container:
        if codec == "mjpeg":
            stream = container.add_stream("mjpeg", rate=25, options={"qmin": "1", "qmax": "1"})
        else:
            stream = container.add_stream("libx264", rate=25, options={"preset": "ultrafast", "qp": "0"})
        stream.width, stream.height, stream.pix_fmt = width, height, pix_fmt
        if full_range:
            stream.codec_context.color_range = 2
        if tagged:
            tag = MATRICES[matrix][2]
            stream.codec_context.colorspace = tag
            stream.codec_context.color_primaries = tag
            stream.codec_context.color_trc = 1
            stream.codec_context.color_range = 2 if full_range else 1
        for index in range(frames):
            frame = av.VideoFrame.from_ndarray(yuv, format=pix_fmt)
            frame.pts, frame.time_base = index, Fraction(1, 25)
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


# HDR patches as BT.2020 R'G'B' signal values (HLG or PQ code, 0..1): saturated and pure primaries,
# a skin tone, greys from dark to 1000-nit peak white.
HDR_PATCHES = [(0.75, 0.0, 0.0), (0.70, 0.25, 0.20), (0.25, 0.70, 0.20), (0.20, 0.25, 0.70), (0.50, 0.50, 0.50),
               (0.75, 0.75, 0.75), (1.0, 1.0, 1.0), (0.65, 0.50, 0.40), (0.10, 0.10, 0.10)]
HDR_TRANSFERS = {"hlg": 18, "pq": 16}  # FFmpeg's color_trc tags: arib-std-b67, smpte2084
# FFmpeg's usual HDR -> SDR chain (zimg for the transfer and primaries, the tonemap filter's Hable curve), to RGB.
FFMPEG_HDR_TO_SDR = ("zscale=t=linear:npl=100,format=gbrpf32le,zscale=p=bt709,tonemap=tonemap=hable:desat=0,"
                     "zscale=t=bt709:m=bt709:r=pc,format=gbrp")


def ffmpeg_has_filters(*names: str) -> bool:
    """Whether the installed ``ffmpeg`` command has all of these filters."""
    if shutil.which("ffmpeg") is None:
        return False
    listing = subprocess.run(["ffmpeg", "-hide_banner", "-filters"], capture_output=True, text=True).stdout
    found = {line.split()[1] for line in listing.splitlines() if len(line.split()) > 2}
    return all(name in found for name in names)


def hdr_clip(path: Path, transfer: str, width: int = 192, height: int = 192, max_cll: int | None = None,
             mastering_peak: int | None = None, frames: int = 2) -> Path:
    """``HDR_PATCHES`` as a phone records them: HEVC Main 10 (lossless x265), BT.2020 tagged HLG or PQ.

    HDR10 metadata, in nits: ``max_cll`` (content light level), ``mastering_peak`` (the
    mastering display's peak; ``max_cll`` when not given).
    """
    kr, kb, tag = MATRICES["bt2020"]
    signal = np.zeros((height, width, 3))
    for index, (row, col) in enumerate((r, c) for r in range(0, height, PATCH) for c in range(0, width, PATCH)):
        signal[row:row + PATCH, col:col + PATCH] = HDR_PATCHES[index % len(HDR_PATCHES)]
    red, green, blue = signal[..., 0], signal[..., 1], signal[..., 2]
    luma = kr * red + (1 - kr - kb) * green + kb * blue
    planes = [np.rint(p).astype(np.uint16) for p in (64 + 876 * luma, 512 + 448 * (blue - luma) / (1 - kb),
                                                      512 + 448 * (red - luma) / (1 - kr))]
    chroma = [p.reshape(height // 2, 2, width // 2, 2).mean(axis=(1, 3)).round().astype(np.uint16) for p in planes[1:]]
    yuv = np.concatenate([planes[0]] + [c.reshape(height // 4, width) for c in chroma])
    params = "lossless=1:log-level=error"
    if max_cll is not None:
        params += f":max-cll={max_cll},{max_cll // 10}"
    if mastering_peak or max_cll:
        params += f":master-display=G(13250,34500)B(7500,3000)R(34000,16000)WP(15635,16450)L({(mastering_peak or max_cll or 0) * 10000},50)"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx265", rate=25, options={"x265-params": params})
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p10le"
        context = stream.codec_context
        context.colorspace, context.color_primaries, context.color_range = tag, tag, 1
        context.color_trc = HDR_TRANSFERS[transfer]
        for index in range(frames):
            frame = av.VideoFrame.from_ndarray(yuv, format="yuv420p10le")
            frame.pts, frame.time_base = index, Fraction(1, 25)
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


def ffmpeg_sdr(path: Path, width: int, height: int) -> np.ndarray:
    """The first frame of an HDR clip as FFmpeg converts it to SDR BT.709 (``FFMPEG_HDR_TO_SDR``), BGR."""
    raw = subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-vf", FFMPEG_HDR_TO_SDR, "-frames:v", "1",
                          "-pix_fmt", "bgr24", "-f", "rawvideo", "-"], capture_output=True, check=True).stdout
    return np.frombuffer(raw, np.uint8).reshape(height, width, 3)


def centres(image: np.ndarray) -> np.ndarray:
    """The pixel at the centre of every PATCH-sized square, row by row: (patches, channels) as int."""
    return image[PATCH // 2::PATCH, PATCH // 2::PATCH].reshape(-1, image.shape[2]).astype(int)


def patch_centres(image: np.ndarray) -> list[tuple[tuple[int, int, int], np.ndarray]]:
    """(expected BGR, decoded BGR) at the centre of every patch of a decoded picture."""
    expected = patch_picture(image.shape[1], image.shape[0])
    pairs = []
    for row in range(PATCH // 2, image.shape[0], PATCH):
        for col in range(PATCH // 2, image.shape[1], PATCH):
            pairs.append((tuple(int(v) for v in expected[row, col]), image[row, col].astype(int)))
    return pairs


def image_sequence(folder: Path, count: int, width: int = 96, height: int = 64, name: str = "frame_%04d.png",
                   start: int = 1) -> str:
    """``count`` pattern frames written as ``folder/name % n`` (n from ``start``); returns the pattern."""
    folder.mkdir(parents=True, exist_ok=True)
    for index in range(count):
        cv2.imwrite(str(folder / (name % (start + index))), pattern_frame(index, width, height))
    return str(folder / name)


def ts_without_video_frames(path: Path, seconds: float = 1.0) -> Path:
    """MPEG-TS whose PMT declares an H.264 video stream that never sends a frame (audio only):
    it opens, then delivers no picture, like a camera whose video encoder died."""
    with av.open(str(path), "w") as container:
        video = container.add_stream("libx264", rate=25)
        video.width, video.height, video.pix_fmt = 96, 64, "yuv420p"
        sound = container.add_stream("aac", rate=AUDIO_RATE, layout="mono")
        for start in range(0, int(AUDIO_RATE * seconds), 1024):
            frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="flt", layout="mono")
            frame.sample_rate, frame.pts = AUDIO_RATE, start
            container.mux(sound.encode(frame))
        container.mux(sound.encode(None))
    return path


# -- a live HTTP stream -------------------------------------------------------------------------


class _ScriptedStream(http.server.BaseHTTPRequestHandler):
    """Each GET plays the next action of ``script``: bytes (streamed chunked, no length, then the
    end), "404", or ("stall", bytes) (send them, then go silent until the server stops)."""

    protocol_version = "HTTP/1.1"
    script: list = []
    requests: list[float] = []
    stop: threading.Event

    def do_GET(self) -> None:
        self.requests.append(time.monotonic())
        index = len(self.requests) - 1
        action = self.script[index] if index < len(self.script) else self.script[-1]
        if action == "404":
            self.send_error(404)
            return
        stall = isinstance(action, tuple)
        payload = action[1] if stall else action
        self.send_response(200)
        self.send_header("Content-Type", "video/mp2t")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        try:
            for start in range(0, len(payload), 4096):
                chunk = payload[start:start + 4096]
                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            self.wfile.flush()
            if stall:
                self.stop.wait(30)
            self.wfile.write(b"0\r\n\r\n")
        except OSError:
            pass

    def log_message(self, *_args) -> None:
        pass


@contextmanager
def live_http(script: Sequence) -> Iterator[tuple[str, list[float]]]:
    """A live-like HTTP server on 127.0.0.1: yields (base URL, request times) while it runs."""
    requests: list[float] = []
    stop = threading.Event()
    handler = type("Handler", (_ScriptedStream,), {"script": list(script), "requests": requests, "stop": stop})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", requests
    finally:
        stop.set()
        server.shutdown()
        server.server_close()
        thread.join(5)


# -- a UDP MPEG-TS sender ----------------------------------------------------------------------


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def marker_frame(sender: int, index: int, width: int, height: int) -> np.ndarray:
    """A flat picture whose colour says which sender (1 or 2) sent it and its index (< 160)."""
    return np.full((height, width, 3), (60 + 100 * (sender - 1), 30 + 6 * (index % 32), 40 + 40 * (index // 32)),
                   np.uint8)


def read_marker(image: np.ndarray) -> tuple[int, int]:
    """(sender, index) of a decoded ``marker_frame``."""
    blue, green, red = (float(image[..., c].mean()) for c in range(3))
    return round((blue - 60) / 100) + 1, round((green - 30) / 6) + 32 * round((red - 40) / 40)


class UdpSender:
    """Sends marker frames 0, 1, 2... as MPEG-TS over UDP at ``fps``, paced like ``ffmpeg -re``.

    Each sender starts its timestamps at zero, as a restarted camera or encoder does. Every
    PES carries its length, so a receiver gets each frame as it is sent (not when the next
    one starts), and a key frame comes every ``gop`` frames so a receiver can join.
    """

    def __init__(self, port: int, sender: int = 1, fps: int = 25, width: int = 160, height: int = 120,
                 gop: int = 5) -> None:
        self.url = f"udp://127.0.0.1:{port}?pkt_size=1316"
        self.sender, self.fps, self.width, self.height, self.gop = sender, fps, width, height, gop
        self.sent = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> UdpSender:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)

    def _run(self) -> None:
        with av.open(self.url, "w", format="mpegts", container_options={"omit_video_pes_length": "0"}) as container:
            options = {"preset": "ultrafast", "tune": "zerolatency", "crf": "20", "g": str(self.gop),
                       "keyint_min": str(self.gop)}
            stream = container.add_stream("libx264", rate=self.fps, options=options)
            stream.width, stream.height, stream.pix_fmt = self.width, self.height, "yuv420p"
            started = time.monotonic()
            while not self._stop.is_set():
                picture = marker_frame(self.sender, self.sent, self.width, self.height)
                frame = av.VideoFrame.from_ndarray(picture, format="bgr24")
                frame.pts, frame.time_base = self.sent, Fraction(1, self.fps)
                container.mux(stream.encode(frame))
                self.sent += 1
                self._stop.wait(max(0.0, started + self.sent / self.fps - time.monotonic()))


# -- a live HLS playlist written by FFmpeg ------------------------------------------------------


class LiveHls:
    """A live HLS playlist that the FFmpeg command line writes in real time, served on 127.0.0.1."""

    def __init__(self, url: str, folder: Path, process: subprocess.Popen) -> None:
        self.url, self.folder, self.process = url, folder, process

    def playlist(self) -> str:
        return (self.folder / "live.m3u8").read_text()

    def ended(self) -> bool:
        """Whether the playlist says the stream is over (FFmpeg adds it when it finishes, not when killed)."""
        return "#EXT-X-ENDLIST" in self.playlist()

    def listed_seconds(self) -> float:
        """The media the playlist holds: the sum of its segments' durations."""
        return sum(float(line.split(":", 1)[1].rstrip(",")) for line in self.playlist().splitlines()
                   if line.startswith("#EXTINF:"))

    def kill(self) -> None:
        """The encoder dies (SIGKILL): the playlist keeps its last segments and never gains an end."""
        self.process.kill()


@contextmanager
def live_hls(folder: Path, seconds: float, fps: int = 20, audio: bool = True) -> Iterator[LiveHls]:
    """``ffmpeg -re`` writing ``seconds`` of a test picture (and a 440 Hz tone) as live HLS: 1 s segments,
    the newest five listed, older ones deleted, ``#EXT-X-ENDLIST`` when it finishes. Yields once the
    playlist exists (after the first segment); the encoder is killed on the way out if still running."""
    folder.mkdir(parents=True, exist_ok=True)
    inputs = ["-f", "lavfi", "-i", f"testsrc2=size=160x120:rate={fps}"]
    codecs = ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-g", str(fps), "-keyint_min", str(fps),
              "-sc_threshold", "0"]
    if audio:
        inputs += ["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100"]
        codecs += ["-c:a", "aac", "-b:a", "64k"]
    command = ["ffmpeg", "-nostdin", "-loglevel", "error", "-re", *inputs, "-t", f"{seconds:g}", *codecs, "-f", "hls",
               "-hls_time", "1", "-hls_list_size", "5", "-hls_flags", "delete_segments", str(folder / "live.m3u8")]
    with serve_directory(folder) as base:
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 20
            while not (folder / "live.m3u8").exists():
                assert process.poll() is None and time.monotonic() < deadline, "ffmpeg wrote no HLS playlist"
                time.sleep(0.05)
            yield LiveHls(f"{base}/live.m3u8", folder, process)
        finally:
            if process.poll() is None:
                process.kill()
            process.wait(10)
