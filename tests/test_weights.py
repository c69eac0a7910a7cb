"""Weights download, verification and cache, against a server on 127.0.0.1 run by the test.

No test touches the internet: the "official" file is a few hundred KB of random bytes
served from a temporary folder, and "offline" is a closed loopback port.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import http.server
import logging
import pickle
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
import torch

from stream import launch
from stream.core.cache import sha256_of
from stream.core.errors import DownloadError, ModelError
from stream.model import checkpoint
from stream.model import weights as weights_mod
from stream.model.registry import MODELS
from stream.model.resolve import resolve_model
from stream.model.state_file import read_state_dict
from stream.model.weights import default_cache_dir, download_file, ensure_weights

MIDAS_FILE = MODELS.get("midas-small").filename

PAYLOAD_SIZE = 300_000


@dataclass
class Server:
    base: str
    payload: bytes
    sha256: str
    requests: list[str] = field(default_factory=list)
    half_sent: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)

    def url(self, name: str = "blob.bin") -> str:
        return f"{self.base}/{name}"


class _Handler(http.server.SimpleHTTPRequestHandler):
    """Static files, plus /slow.bin (pauses half way) and /cut.bin (chunked, cut short)."""

    def do_GET(self) -> None:
        state = self.server.state  # type: ignore[attr-defined]
        state.requests.append(self.path)
        payload = state.payload
        if self.path == "/slow.bin":
            self.send_response(200)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            half = len(payload) // 2
            self.wfile.write(payload[:half])
            self.wfile.flush()
            state.half_sent.set()
            state.release.wait(10)
            self.wfile.write(payload[half:])
        elif self.path == "/cut.bin":
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            chunk = payload[:1000]
            self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            self.wfile.write(b"ffff\r\n" + payload[1000:2000])  # promises 65535 bytes, then hangs up
            self.wfile.flush()
            self.close_connection = True
        else:
            super().do_GET()

    def log_message(self, *_args) -> None:
        pass


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("served")
    payload = np.random.default_rng(7).integers(0, 256, PAYLOAD_SIZE, dtype=np.uint8).tobytes()
    (root / "blob.bin").write_bytes(payload)
    with serving(root, payload, hashlib.sha256(payload).hexdigest()) as state:
        try:
            yield state
        finally:
            state.release.set()  # a download still waiting for its second half ends now


@contextlib.contextmanager
def serving(root: Path, payload: bytes, sha256: str) -> Iterator[Server]:
    """``root`` served on 127.0.0.1 by the test's own HTTP server (plus the handler's special paths)."""
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Handler, directory=str(root)))
    httpd.daemon_threads = True
    state = Server(f"http://127.0.0.1:{httpd.server_address[1]}", payload, sha256)
    httpd.state = state  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        state.release.set()
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


@pytest.fixture
def closed_url() -> str:
    """A URL on a loopback port nobody listens on: connection refused, at once."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/midas_v21_small_256.pt"


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".part") or p.name.startswith("."))


def assert_one_line_naming(message: str, *parts: object) -> None:
    assert "\n" not in message, message
    for part in parts:
        assert str(part) in message, f"{part!r} not in {message!r}"


# --- download_file ---------------------------------------------------------------------


def test_download_writes_exact_bytes_and_no_temp_file(server, tmp_path) -> None:
    dest = tmp_path / "cache" / "w.pt"
    got = download_file(server.url(), dest, server.sha256, len(server.payload), progress=False)
    assert got == dest
    assert dest.read_bytes() == server.payload
    assert leftovers(dest.parent) == []
    assert [p.name for p in dest.parent.iterdir()] == ["w.pt"]


def test_dest_appears_only_when_complete(server, tmp_path) -> None:
    """Half way through, only a hidden temp file exists; a stale file keeps its old bytes."""
    dest = tmp_path / "w.pt"
    dest.write_bytes(b"stale partial file from an old run")
    server.half_sent.clear()
    server.release.clear()
    outcome: dict[str, object] = {}

    def fetch() -> None:
        try:
            outcome["path"] = download_file(server.url("slow.bin"), dest, server.sha256, len(server.payload), progress=False)
        except Exception as exc:  # noqa: BLE001 - reported below
            outcome["error"] = exc

    worker = threading.Thread(target=fetch)
    worker.start()
    try:
        assert server.half_sent.wait(10)
        assert dest.read_bytes() == b"stale partial file from an old run"
        assert len(leftovers(tmp_path)) == 1 and leftovers(tmp_path)[0].endswith(".part")
    finally:
        server.release.set()
        worker.join(15)
    assert "error" not in outcome, outcome.get("error")
    assert dest.read_bytes() == server.payload
    assert leftovers(tmp_path) == []


def test_sha_mismatch_leaves_nothing(server, tmp_path) -> None:
    dest = tmp_path / "w.pt"
    with pytest.raises(DownloadError) as err:
        download_file(server.url(), dest, "0" * 64, len(server.payload), progress=False)
    assert_one_line_naming(str(err.value), "SHA-256", server.url(), dest, "--weights")
    assert not dest.exists()
    assert list(tmp_path.iterdir()) == []


def test_sha_mismatch_keeps_stale_file_untouched(server, tmp_path) -> None:
    dest = tmp_path / "w.pt"
    dest.write_bytes(b"old")
    with pytest.raises(DownloadError, match="SHA-256"):
        download_file(server.url(), dest, "0" * 64, None, progress=False)
    assert dest.read_bytes() == b"old"
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("delta", [1, -1])
def test_size_mismatch_removes_partial(server, tmp_path, delta) -> None:
    dest = tmp_path / "w.pt"
    with pytest.raises(DownloadError) as err:
        download_file(server.url(), dest, server.sha256, len(server.payload) + delta, progress=False)
    assert_one_line_naming(str(err.value), server.url(), str(len(server.payload)), "--weights")
    assert list(tmp_path.iterdir()) == []


def test_unreachable_host(closed_url, tmp_path) -> None:
    dest = tmp_path / "cache" / "w.pt"
    with pytest.raises(DownloadError) as err:
        download_file(closed_url, dest, "0" * 64, 10, progress=False, timeout=5)
    assert_one_line_naming(str(err.value), closed_url, dest, "--weights")
    assert list(dest.parent.iterdir()) == []


def test_http_404(server, tmp_path) -> None:
    dest = tmp_path / "w.pt"
    with pytest.raises(DownloadError) as err:
        download_file(server.url("nope.bin"), dest, server.sha256, None, progress=False)
    assert_one_line_naming(str(err.value), "HTTP 404", server.url("nope.bin"), dest, "--weights")
    assert list(tmp_path.iterdir()) == []


def test_connection_cut_mid_body(server, tmp_path) -> None:
    """A chunked response that stops short is a DownloadError, not a traceback."""
    dest = tmp_path / "w.pt"
    with pytest.raises(DownloadError) as err:
        download_file(server.url("cut.bin"), dest, server.sha256, None, progress=False, timeout=5)
    assert_one_line_naming(str(err.value), server.url("cut.bin"), "--weights")
    assert list(tmp_path.iterdir()) == []


def test_cache_folder_that_cannot_be_created(server, tmp_path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(DownloadError) as err:
        download_file(server.url(), blocker / "sub" / "w.pt", server.sha256, None, progress=False)
    assert_one_line_naming(str(err.value), blocker / "sub", "--weights")


# --- ensure_weights and the cache folder ---------------------------------------------------
# The served "MiDaS file" is random bytes, so these pin its digest (as model.sha256 would).


def test_ensure_downloads_once_then_uses_cache(server, tmp_path) -> None:
    kwargs = dict(url=server.url(), sha256=server.sha256, progress=False)
    before = len(server.requests)
    first = ensure_weights("midas-small", tmp_path, **kwargs)
    assert len(server.requests) == before + 1
    assert first == tmp_path / MIDAS_FILE and first.read_bytes() == server.payload
    second = ensure_weights("midas-small", tmp_path, **kwargs)
    assert second == first and len(server.requests) == before + 1


def test_ensure_replaces_a_corrupt_cached_file(server, tmp_path) -> None:
    cached = tmp_path / MIDAS_FILE
    cached.write_bytes(bytes(len(server.payload)))  # right size, wrong bytes
    before = len(server.requests)
    got = ensure_weights("midas-small", tmp_path, progress=False, sha256=server.sha256, url=server.url())
    assert got == cached and cached.read_bytes() == server.payload
    assert len(server.requests) == before + 1


def test_midas_download_is_checked_against_the_published_digest(server, tmp_path) -> None:
    """Unpinned, MiDaS's published size and SHA-256 decide (the served bytes are not the official file)."""
    with pytest.raises(DownloadError) as err:
        ensure_weights("midas-small", tmp_path, progress=False, url=server.url())
    assert_one_line_naming(str(err.value), server.url(), MODELS.get("midas-small").size, "--weights")
    assert list(tmp_path.iterdir()) == []


def test_default_cache_dir(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("DEPTH_STREAM_CACHE", str(tmp_path / "mine"))
    assert default_cache_dir() == tmp_path / "mine"
    monkeypatch.delenv("DEPTH_STREAM_CACHE")
    assert default_cache_dir() == tmp_path / "xdg" / "depth-stream"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert default_cache_dir() == tmp_path / "home" / ".cache" / "depth-stream"
    monkeypatch.setenv("DEPTH_STREAM_CACHE", "")  # empty counts as unset
    assert default_cache_dir() == tmp_path / "home" / ".cache" / "depth-stream"


# --- read_state_dict ----------------------------------------------------------------------

TINY = {"conv.weight": torch.arange(6, dtype=torch.float32).reshape(2, 3), "conv.bias": torch.ones(2)}


@pytest.mark.parametrize("wrap", [lambda sd: sd, lambda sd: {"model": sd}, lambda sd: {"state_dict": sd}], ids=["plain", "model", "state_dict"])
def test_read_state_dict_formats(tmp_path, wrap) -> None:
    path = tmp_path / "w.pt"
    torch.save(wrap(TINY), path)
    got = read_state_dict(path)
    assert set(got) == set(TINY)
    for name, tensor in TINY.items():
        assert torch.equal(got[name], tensor)


def test_read_state_dict_missing_file(tmp_path) -> None:
    with pytest.raises(ModelError) as err:
        read_state_dict(tmp_path / "nope.pt")
    assert_one_line_naming(str(err.value), tmp_path / "nope.pt", "not found")


@pytest.mark.parametrize(
    "content",
    [
        np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes(),
        b"",
        b"PK\x03\x04" + bytes(100),  # looks like a zip, is not
        b"j\x87\xcc\xf7\xd6",  # pickle memo lookup of a missing key
        b"\x80\x02b",  # pickle BUILD on an empty stack
        b"\x80\x02M\x93",  # truncated pickle integer
    ],
    ids=["random", "empty", "fake-zip", "memo", "stack", "truncated"],
)
def test_read_state_dict_corrupt_file(tmp_path, content) -> None:
    path = tmp_path / "broken.pt"
    path.write_bytes(content)
    with pytest.raises(ModelError) as err:
        read_state_dict(path)
    assert_one_line_naming(str(err.value), path)


@pytest.mark.parametrize("save", [torch.save, lambda obj, p: p.write_bytes(pickle.dumps(obj, protocol=2))], ids=["torch", "pickle"])
def test_read_state_dict_not_a_dict(tmp_path, save) -> None:
    path = tmp_path / "list.pt"
    save([torch.ones(1), torch.zeros(1)], path)
    with pytest.raises(ModelError) as err:
        read_state_dict(path)
    assert_one_line_naming(str(err.value), path)


# --- no fallback to random weights ----------------------------------------------------------


@pytest.fixture
def offline(monkeypatch, closed_url) -> str:
    """The official URL points at a closed loopback port; building random weights is an error."""
    original = weights_mod.ensure_weights
    monkeypatch.setattr(weights_mod, "ensure_weights", functools.partial(original, url=closed_url))

    def forbidden(*_args, **_kwargs):
        raise AssertionError("random weights used outside tests")

    monkeypatch.setattr(checkpoint, "random_network", forbidden)
    monkeypatch.setattr(checkpoint, "save_random_checkpoint", forbidden)
    return closed_url


def test_resolve_model_offline_raises_and_never_uses_random_weights(offline, tmp_path) -> None:
    cache = tmp_path / "cache"
    with pytest.raises(DownloadError) as err:
        resolve_model(None, None, cache, "fp32", progress=False)
    assert_one_line_naming(str(err.value), offline, cache / MIDAS_FILE, "--weights")
    assert list(cache.glob("*.onnx")) == [] and list(cache.glob("*.pt")) == []
    assert leftovers(cache) == []


def test_cli_offline_exits_1_with_one_line_error(offline, tmp_path, capsys) -> None:
    cache = tmp_path / "cache"
    code = launch.main(["--source", "synthetic", "--headless", "--max-frames", "1", "--cache-dir", str(cache)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1
    assert len(err) == 1 and err[0].startswith("error:")
    assert_one_line_naming(err[0], offline, cache, "--weights")
    assert list(cache.glob("*.onnx")) == [] and list(cache.glob("*.pt")) == []


# --- Depth Anything: no published digest; a strict load decides, a pin is required when set --------

DA2 = "depth-anything-v2-small"
DA2_FILE = MODELS.get(DA2).filename


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory, random_checkpoint_for) -> Iterator[Server]:
    """A server on 127.0.0.1 with a random Depth Anything V2 Small checkpoint and a MiDaS one."""
    root = tmp_path_factory.mktemp("served-checkpoints")
    (root / DA2_FILE).symlink_to(random_checkpoint_for(DA2))
    (root / MIDAS_FILE).symlink_to(random_checkpoint_for("midas-small"))
    with serving(root, b"", sha256_of(root / DA2_FILE)) as state:
        yield state


def test_depth_anything_download_is_loaded_cached_and_its_digest_told(checkpoints, tmp_path, caplog) -> None:
    url = checkpoints.url(DA2_FILE)
    with caplog.at_level(logging.INFO, logger="stream.model.weights"):
        got = ensure_weights(DA2, tmp_path, progress=False, url=url)
    assert got == tmp_path / DA2_FILE and sha256_of(got) == checkpoints.sha256
    told = [r.getMessage() for r in caplog.records if r.getMessage().startswith("sha256 of")]
    assert told == [f"sha256 of {DA2_FILE}: {checkpoints.sha256}; pin it with model.sha256"]
    before = len(checkpoints.requests)
    assert ensure_weights(DA2, tmp_path, progress=False, url=url) == got
    assert len(checkpoints.requests) == before  # cached: no second download
    assert leftovers(tmp_path) == []


def test_a_midas_file_served_for_depth_anything_is_refused_and_not_cached(checkpoints, tmp_path) -> None:
    url = checkpoints.url(MIDAS_FILE)
    with pytest.raises(DownloadError) as err:
        ensure_weights(DA2, tmp_path, progress=False, url=url)
    assert_one_line_naming(str(err.value), url, "is a MiDaS v2.1 small checkpoint, not depth-anything-v2-small", "nothing was cached")
    assert list(tmp_path.iterdir()) == []


def test_a_pinned_digest_is_required(checkpoints, tmp_path) -> None:
    url = checkpoints.url(DA2_FILE)
    wrong = "0" * 64
    with pytest.raises(DownloadError) as err:
        ensure_weights(DA2, tmp_path, progress=False, sha256=wrong, url=url)
    assert_one_line_naming(str(err.value), url, checkpoints.sha256, wrong, "model.sha256")
    assert list(tmp_path.iterdir()) == []
    got = ensure_weights(DA2, tmp_path, progress=False, sha256=checkpoints.sha256.upper(), url=url)
    assert sha256_of(got) == checkpoints.sha256


def test_a_cached_file_that_fails_the_pin_is_fetched_again(checkpoints, tmp_path) -> None:
    cached = tmp_path / DA2_FILE
    cached.write_bytes(b"some other file put here by hand")
    before = len(checkpoints.requests)
    got = ensure_weights(DA2, tmp_path, progress=False, sha256=checkpoints.sha256, url=checkpoints.url(DA2_FILE))
    assert got == cached and sha256_of(cached) == checkpoints.sha256
    assert len(checkpoints.requests) == before + 1


def test_resolve_model_exports_the_downloaded_depth_anything_once(checkpoints, random_onnx_for, model_cache, monkeypatch) -> None:
    """The official-weights path for a Depth Anything name: download (here: served), strict load, export, cache by name."""
    monkeypatch.setattr(weights_mod, "ensure_weights", functools.partial(weights_mod.ensure_weights, url=checkpoints.url(DA2_FILE)))
    expected = random_onnx_for(DA2)  # the same weights, exported into the same cache
    got = resolve_model(None, None, model_cache, "fp32", progress=False, name=DA2)
    assert got == expected and got.name.startswith(f"{DA2}-{checkpoints.sha256[:16]}-")
