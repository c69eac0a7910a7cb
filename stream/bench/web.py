"""Benchmark of the browser page's transport: MJPEG over multipart HTTP vs JPEG frames over a WebSocket.

``python -m stream.bench.web [--frames N] [--size WxH]`` runs the real server (``stream.web``)
on 127.0.0.1 without a model, publishes composed-size frames to its relay, and measures
for each transport, with one client in this process on its own thread:

* added latency: from ``publish`` (what the display thread does) to the last byte of that
  frame read by the client, one frame at a time (the next is published once it arrived);
* server CPU per frame: this process's CPU time minus the client thread's, per frame
  (JPEG encoding included: it is the same for both, once per frame);
* a slow viewer: frames published at 30 fps for 3 s to a client that takes 100 ms per
  frame; how many frames were sent but not yet read when it stops (each one is 100 ms of
  extra delay for that viewer).
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import statistics
import threading
import time
from collections.abc import Callable
from typing import Any

import aiohttp
import cv2
import numpy as np

from stream.config.settings import load_settings
from stream.sources.synthetic import SyntheticSource
from stream.view.probe import Probes
from stream.web.server import LiveWeb, serve_live

TIMEOUT = 10.0


class Client(threading.Thread):
    """A viewer on its own thread: calls ``on_frame`` for each complete JPEG, sleeping ``pause`` s after each."""

    def __init__(self, web: LiveWeb, pause: float = 0.0) -> None:
        super().__init__(name="bench-client", daemon=True)
        self.web, self.pause = web, pause
        self.arrivals: list[float] = []
        self.cpu = 0.0
        self.arrived = threading.Event()
        self.quit = threading.Event()
        self.error: BaseException | None = None

    def stop(self) -> None:
        self.quit.set()
        self.join(TIMEOUT)

    def got(self) -> None:
        self.arrivals.append(time.monotonic())
        self.arrived.set()
        if self.pause:
            time.sleep(self.pause)

    def run(self) -> None:
        start = time.thread_time()
        try:
            self.receive()
        except BaseException as exc:  # noqa: BLE001 - reported by the benchmark
            if not self.quit.is_set():
                self.error = exc
        self.cpu = time.thread_time() - start

    def receive(self) -> None:
        """Read frames until ``quit`` (each transport's own client)."""


class MjpegClient(Client):
    sock: socket.socket | None = None

    def stop(self) -> None:
        self.quit.set()
        if self.sock is not None:
            self.sock.shutdown(socket.SHUT_RDWR)  # wakes a blocked read
        self.join(TIMEOUT)

    def receive(self) -> None:
        with socket.create_connection(("127.0.0.1", self.web.server.port), timeout=TIMEOUT) as sock:
            self.sock = sock
            sock.sendall(b"GET /stream.mjpg HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
            stream = sock.makefile("rb")
            while stream.readline() not in (b"\r\n", b""):
                pass
            while not self.quit.is_set():
                line = stream.readline()
                if not line:
                    return
                if line.startswith(b"Content-Length:"):
                    length = int(line.split(b":")[1])
                    stream.readline()
                    stream.read(length)
                    self.got()


class WebSocketClient(Client):
    def receive(self) -> None:
        asyncio.run(self.loop())

    async def loop(self) -> None:
        url = f"ws://127.0.0.1:{self.web.server.port}/ws/live"
        async with aiohttp.ClientSession() as session, session.ws_connect(url) as ws:
            await ws.send_str("next")
            while not self.quit.is_set():
                try:
                    message = await ws.receive(timeout=0.2)
                except asyncio.TimeoutError:
                    continue
                if message.type != aiohttp.WSMsgType.BINARY:
                    return
                self.got()
                await ws.send_str("next")


def frames(width: int, height: int, count: int = 30) -> list[np.ndarray]:
    """Composed-view-like pictures (two halves of the synthetic scene), different each time."""
    scene = SyntheticSource(width, height)
    return [np.concatenate([scene.render(i), scene.render(i + 7)[:, ::-1]], axis=1) for i in range(count)]


def measure_latency(web: LiveWeb, client_type: Callable[[LiveWeb], Client], pictures: list[np.ndarray],
                    count: int) -> dict[str, float]:
    client = client_type(web)
    client.start()
    relay = web.state.relay
    relay.publish(pictures[0])  # connect and warm up
    if not client.arrived.wait(TIMEOUT):
        raise RuntimeError(f"no frame reached the client: {client.error}")
    latencies = []
    cpu0, cpu_client0 = time.process_time(), client.cpu
    for i in range(count):
        client.arrived.clear()
        published = time.monotonic()
        relay.publish(pictures[i % len(pictures)])
        if not client.arrived.wait(TIMEOUT):
            raise RuntimeError(f"frame {i} never arrived: {client.error}")
        latencies.append(client.arrivals[-1] - published)
        time.sleep(1 / 30)
    cpu = time.process_time() - cpu0
    client.stop()
    server_cpu = cpu - (client.cpu - cpu_client0)
    return {"latency_ms_p50": statistics.median(latencies) * 1e3,
            "latency_ms_p95": float(np.quantile(latencies, 0.95)) * 1e3,
            "server_cpu_ms_per_frame": server_cpu / count * 1e3}


def measure_slow_viewer(web: LiveWeb, client_type: Callable[..., Client], pictures: list[np.ndarray]) -> dict[str, float]:
    client = client_type(web, pause=0.1)
    client.start()
    relay = web.state.relay
    end = time.monotonic() + 3.0
    i = 0
    while time.monotonic() < end:
        relay.publish(pictures[i % len(pictures)])
        i += 1
        time.sleep(1 / 30)
    sent = max(web.state.viewers.sent_counts(), default=0)
    received = len(client.arrivals)
    client.stop()
    return {"published": i, "sent": sent, "received": received, "in_flight": sent - received}


def run(frame_count: int, width: int, height: int) -> dict[str, Any]:
    settings = load_settings(None, {"serve": {"address": "127.0.0.1:0"}})
    pictures = frames(width, height)
    results: dict[str, Any] = {"frame": f"{2 * width}x{height}"}
    for name, client_type in (("mjpeg", MjpegClient), ("websocket", WebSocketClient)):
        with serve_live(settings, Probes(), make_estimator=_no_model) as web:
            results[name] = measure_latency(web, client_type, pictures, frame_count)
        with serve_live(settings, Probes(), make_estimator=_no_model) as web:
            results[name].update(measure_slow_viewer(web, client_type, pictures))
    encode_ms = []
    for picture in pictures:
        t0 = time.perf_counter()
        cv2.imencode(".jpg", picture, [cv2.IMWRITE_JPEG_QUALITY, settings.serve.jpeg_quality])
        encode_ms.append((time.perf_counter() - t0) * 1e3)
    results["jpeg_encode_ms"] = statistics.median(encode_ms)
    return results


def _no_model() -> Any:
    raise RuntimeError("the transport benchmark runs no model")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stream.bench.web", description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=150, help="frames per transport for the latency figure")
    parser.add_argument("--size", default="640x480", help="each half of the composed frame, WxH")
    args = parser.parse_args(argv)
    width, height = (int(part) for part in args.size.lower().split("x"))
    results = run(args.frames, width, height)
    print(f"composed frame {results['frame']}, JPEG encode {results['jpeg_encode_ms']:.1f} ms (once per frame)")
    print(f"{'transport':<10} {'latency p50':>12} {'p95':>8} {'server CPU/frame':>17} {'slow viewer: in flight':>23}")
    for name in ("mjpeg", "websocket"):
        r = results[name]
        print(f"{name:<10} {r['latency_ms_p50']:>9.2f} ms {r['latency_ms_p95']:>5.2f} ms {r['server_cpu_ms_per_frame']:>14.2f} ms "
              f"{r['in_flight']:>10} frames (sent {r['sent']}, read {r['received']} of {r['published']})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
