"""The live page's routes: the page, the frames (WebSocket and MJPEG), the counters, the controls, the camera.

Frames go to the page over a WebSocket, one JPEG per message, each sent only after the
page asked for it ("next", once it has shown the previous one): a slow page or network is
never sent more than it can take, so its picture is always the newest frame (see README
"Browser" for the measurements behind this choice). ``/stream.mjpg`` serves the same frames
as MJPEG for tools (VLC, ``<img>``, curl). Every loop that waits also checks, at least every
``POLL_S``, whether its client is still connected, so a viewer who leaves leaves no task.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from importlib import resources
from typing import Any

import cv2
from aiohttp import WSCloseCode, WSMsgType, web

from stream.core.media import snapshot_name
from stream.web.live import LiveState

POLL_S = 0.5
STATE = web.AppKey("live_state", LiveState)
SOCKETS = web.AppKey("live_sockets", set[web.WebSocketResponse])
BOUNDARY = "depthframe"
CAMERA_MAX_BYTES = 8 * 1024 * 1024
# JPEG does not deflate (compression would only cost CPU); closing waits at most a second for the page's reply
SOCKET_OPTIONS: dict[str, Any] = {"compress": False, "timeout": 1.0}


def static_dir() -> Any:
    return resources.files("stream.web") / "static"


def add_live_routes(app: web.Application, state: LiveState) -> None:
    app[STATE] = state
    app[SOCKETS] = set()
    app.router.add_get("/", page)
    app.router.add_get("/api/status", status)
    app.router.add_post("/api/view", change_view)
    app.router.add_post("/api/probe", add_probe)
    app.router.add_post("/api/probes/clear", clear_probes)
    app.router.add_get("/api/snapshot.png", snapshot)
    app.router.add_get("/ws/live", live_socket)
    app.router.add_get("/ws/camera", camera_socket)
    app.router.add_get("/stream.mjpg", mjpeg)
    app.router.add_static("/static/", str(static_dir()))
    app.on_shutdown.append(close_sockets)


def gone(request: web.Request) -> bool:
    """The client hung up (or the server is stopping): stop working for it."""
    transport = request.transport
    return transport is None or transport.is_closing() or request.app[STATE].relay.closed


async def page(request: web.Request) -> web.Response:
    html = (static_dir() / "index.html").read_text(encoding="utf-8")
    return web.Response(text=html, content_type="text/html", headers={"Cache-Control": "no-store"})


async def status(request: web.Request) -> web.Response:
    state = request.app[STATE]
    result = state.status()
    if state.feed is not None:
        result["camera"] = {"received": state.feed.received, "replaced": state.feed.replaced}
    return web.json_response(result, headers={"Cache-Control": "no-store"})


async def json_body(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        raise web.HTTPBadRequest(text="send a JSON object, e.g. {\"colormap\": \"gray\"}") from None
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(text="send a JSON object, e.g. {\"colormap\": \"gray\"}")
    return body


async def change_view(request: web.Request) -> web.Response:
    """Colormap, normalisation, overlay: applied from the next composed frame on."""
    body = await json_body(request)
    unknown = set(body) - {"colormap", "normalize", "overlay"}
    if unknown:
        raise web.HTTPBadRequest(text=f"unknown control {sorted(unknown)[0]!r}; use colormap, normalize or overlay")
    overlay = body.get("overlay")
    if overlay is not None and not isinstance(overlay, bool):
        raise web.HTTPBadRequest(text="overlay must be true or false")
    try:
        view = request.app[STATE].view.update(body.get("colormap"), body.get("normalize"), overlay)
    except ValueError as exc:
        raise web.HTTPBadRequest(text=str(exc)) from None
    return web.json_response({"colormap": view.colormap, "normalize": view.normalize, "overlay": view.overlay})


async def add_probe(request: web.Request) -> web.Response:
    """A click at pixel (x, y) of the composed frame (either half) probes that source pixel's depth."""
    body = await json_body(request)
    try:
        x, y = int(body["x"]), int(body["y"])
    except (KeyError, TypeError, ValueError):
        raise web.HTTPBadRequest(text="send {\"x\": X, \"y\": Y}, pixels of the composed frame") from None
    point = request.app[STATE].probes.add_at_view(x, y)
    if point is None:
        raise web.HTTPConflict(text="nothing to probe there: click inside the picture once it is showing")
    return web.json_response({"point": list(point)})


async def clear_probes(request: web.Request) -> web.Response:
    request.app[STATE].probes.clear()
    return web.json_response({"probes": []})


async def snapshot(request: web.Request) -> web.Response:
    """The frame on show, full size, as a PNG download."""
    latest = request.app[STATE].relay.latest
    if latest is None:
        raise web.HTTPNotFound(text="no frame has been composed yet; try again in a moment")
    ok, data = await asyncio.get_running_loop().run_in_executor(None, cv2.imencode, ".png", latest.image)
    if not ok:
        raise web.HTTPInternalServerError(text="could not encode the frame as PNG")
    name = snapshot_name(".png")
    return web.Response(body=data.tobytes(), content_type="image/png",
                        headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"})


async def mjpeg(request: web.Request) -> web.StreamResponse:
    """multipart/x-mixed-replace: each part the newest frame; a viewer that reads slowly skips frames."""
    state = request.app[STATE]
    viewer = state.viewers.join("mjpeg")
    if viewer is None:
        return web.Response(status=503, text=state.viewers.full_message(), headers={"Retry-After": "10"})
    response = web.StreamResponse(headers={"Content-Type": f"multipart/x-mixed-replace; boundary={BOUNDARY}",
                                           "Cache-Control": "no-store"})
    try:
        await response.prepare(request)
        seq = 0
        while not gone(request):
            frame = await state.relay.next_jpeg(seq, POLL_S)
            if frame is None:
                continue
            seq = frame.seq
            head = f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(frame.jpeg)}\r\n\r\n".encode()
            await response.write(head + frame.jpeg + b"\r\n")
            viewer.sent += 1
    except ConnectionError:
        pass  # the viewer left mid-frame
    finally:
        state.viewers.leave(viewer)
    return response


async def refuse(request: web.Request, message: str, code: int) -> web.WebSocketResponse:
    """A socket the page can read the reason from (a refused upgrade would only say "failed")."""
    ws = web.WebSocketResponse(**SOCKET_OPTIONS)
    await ws.prepare(request)
    await ws.send_json({"error": message})
    await ws.close(code=code, message=message[:120].encode())
    return ws


async def live_socket(request: web.Request) -> web.WebSocketResponse:
    """Frames for the page: one binary JPEG message per "next" (or "next plain": no overlay) text message it sends."""
    state = request.app[STATE]
    viewer = state.viewers.join("websocket")
    if viewer is None:
        return await refuse(request, state.viewers.full_message(), WSCloseCode.TRY_AGAIN_LATER)
    ws = web.WebSocketResponse(**SOCKET_OPTIONS)
    try:
        await ws.prepare(request)
        request.app[SOCKETS].add(ws)
        seq = 0
        async for message in ws:
            if message.type != WSMsgType.TEXT or message.data not in ("next", "next plain"):
                continue
            plain = message.data == "next plain"  # a narrow page: the picture without its overlay
            frame = None
            while frame is None and not ws.closed and not gone(request):
                frame = await state.relay.next_jpeg(seq, POLL_S, plain)
            if frame is None:
                break
            seq = frame.seq
            await ws.send_bytes(frame.jpeg)
            viewer.sent += 1
    except ConnectionError:
        pass
    finally:
        state.viewers.leave(viewer)
        request.app[SOCKETS].discard(ws)
    return ws


async def camera_socket(request: web.Request) -> web.WebSocketResponse:
    """The page's webcam: each binary message one JPEG frame, answered once the pipeline took (or dropped) it."""
    state = request.app[STATE]
    feed = state.feed
    if feed is None:
        kind = state.source.description if state.source is not None else "another source"
        return await refuse(request, f"this server's source is {kind}; restart it with --source browser to use "
                                     f"this page's camera", WSCloseCode.POLICY_VIOLATION)
    ws = web.WebSocketResponse(max_msg_size=CAMERA_MAX_BYTES, **SOCKET_OPTIONS)
    await ws.prepare(request)
    request.app[SOCKETS].add(ws)
    loop = asyncio.get_running_loop()
    try:
        async for message in ws:
            if message.type != WSMsgType.BINARY:
                continue
            done: asyncio.Future[str | None] = loop.create_future()
            feed.offer(message.data, resolver(loop, done))
            reason = await until_done(done, request)
            if reason == "gone":
                break
            if feed.closed:
                await ws.send_json({"error": "the run has stopped taking camera frames"})
                break
            await ws.send_json({"ack": True} if reason is None else {"ack": True, "note": reason})
    except ConnectionError:
        pass
    finally:
        request.app[SOCKETS].discard(ws)
    return ws


def resolver(loop: asyncio.AbstractEventLoop, future: asyncio.Future[str | None]) -> Callable[[str | None], None]:
    """A callback any thread may call once: it settles ``future`` on its loop."""
    def settle(result: str | None) -> None:
        if not future.done():
            future.set_result(result)

    def call(result: str | None) -> None:
        try:
            loop.call_soon_threadsafe(settle, result)
        except RuntimeError:
            pass  # the loop has closed: nobody is waiting for the answer

    return call


async def until_done(future: asyncio.Future[str | None], request: web.Request) -> str | None:
    while not gone(request):
        try:
            return await asyncio.wait_for(asyncio.shield(future), POLL_S)
        except asyncio.TimeoutError:
            continue
    future.cancel()
    return "gone"


async def close_sockets(app: web.Application) -> None:
    """On shutdown every open page is told the server is going away (it says so and stops asking)."""
    sockets: set[web.WebSocketResponse] = app[SOCKETS]
    for ws in list(sockets):
        await ws.close(code=WSCloseCode.GOING_AWAY, message=b"the server is stopping")
