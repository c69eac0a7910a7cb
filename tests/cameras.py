"""An IP camera as such devices serve it, on 127.0.0.1 (live HLS: ``stream.bench.dejitter.LiveHls``).

``MjpegCamera`` speaks what ESP32-CAM, Android "IP Webcam" and most cheap network cameras
speak: ``multipart/x-mixed-replace`` JPEG parts over HTTP at their own rate, with no
timestamps.
"""

from __future__ import annotations

import http.server
import threading
import time

import cv2
import numpy as np

BOUNDARY = b"frame"


MARK = 32  # the side of the two flat squares, bottom right, that say a picture's index


def camera_picture(index: int, width: int, height: int) -> np.ndarray:
    """A noisy picture (tens of KB as JPEG, like a real camera's) whose index (< 256) two grey squares tell."""
    rng = np.random.default_rng(index)
    image = rng.integers(0, 255, (height, width, 3), np.uint8)
    image[-MARK:, -2 * MARK:-MARK] = (index // 16) * 16 + 8
    image[-MARK:, -MARK:] = (index % 16) * 16 + 8
    return image


def picture_index(image: np.ndarray, width: int) -> int:
    """The index ``camera_picture`` drew into a decoded picture (the left ``width`` pixels of ``image``)."""
    def level(square: np.ndarray) -> int:
        return int(np.clip(round((float(square[8:-8, 8:-8].mean()) - 8) / 16), 0, 15))

    return 16 * level(image[-MARK:, width - 2 * MARK:width - MARK]) + level(image[-MARK:, width - MARK:width])


class MjpegCamera:
    """Serves JPEG parts ``camera_picture(0..frames-1)`` at ``fps`` to the first client, then ends.

    ``sent[i]`` is the monotonic time part ``i`` was written, so a test knows when each frame
    it gets back was sent. FFmpeg's MJPEG reader takes a closed connection for an error, so
    a test ends its run itself (it cancels) while the camera still sends. Later connections get 404.
    """

    def __init__(self, fps: float, frames: int, width: int = 320, height: int = 240) -> None:
        self.fps, self.frames, self.width, self.height = fps, frames, width, height
        self.sent: list[float] = []
        self.served = threading.Event()
        camera = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if camera.served.is_set():
                    self.send_error(404)
                    return
                camera.served.set()
                self.send_response(200)
                self.send_header("Content-Type", f"multipart/x-mixed-replace; boundary={BOUNDARY.decode()}")
                self.send_header("Connection", "close")
                self.end_headers()
                camera.stream(self.wfile)

            def log_message(self, *_args) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/video"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def stream(self, out) -> None:
        parts = [cv2.imencode(".jpg", camera_picture(i, self.width, self.height))[1].tobytes() for i in range(self.frames)]
        started = time.monotonic()
        try:
            for index, jpeg in enumerate(parts):
                time.sleep(max(0.0, started + index / self.fps - time.monotonic()))
                out.write(b"--%s\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n%s\r\n"
                          % (BOUNDARY, len(jpeg), jpeg))
                out.flush()
                self.sent.append(time.monotonic())
        except OSError:
            pass

    def __enter__(self) -> MjpegCamera:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(5)
