"""Shared fixtures: seeded random-weights checkpoints of the real networks and their ONNX exports.

They go through the same code path as the official weights (save .pt -> strict load ->
export -> cache), exported once per test session: ``random_weights``/``random_onnx`` for
MiDaS v2.1 small, ``random_checkpoint_for(name)``/``random_onnx_for(name)`` for any model.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"
RANDOM_SEED = 1234


@pytest.fixture(scope="session")
def manifest() -> dict:
    return json.loads((DATA / "midas_v21_small_256.manifest.json").read_text())


@pytest.fixture(scope="session")
def model_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("model-cache")


@pytest.fixture(scope="session")
def random_weights(model_cache: Path) -> Path:
    from stream.model.checkpoint import save_random_checkpoint

    return save_random_checkpoint(model_cache / "random-weights.pt", RANDOM_SEED)


@pytest.fixture(scope="session")
def random_onnx(random_weights: Path, model_cache: Path) -> Path:
    from stream.model.export import onnx_for_weights

    return onnx_for_weights(random_weights, model_cache)


@pytest.fixture(scope="session")
def random_checkpoint_for(request: pytest.FixtureRequest, model_cache: Path) -> Callable[[str], Path]:
    """``random_checkpoint_for(name)``: a seeded random-weights checkpoint of any registered model,
    made once per session (midas-small is ``random_weights``). Made on one torch thread, so the
    weights are the same whoever asks first."""
    from stream.model.checkpoint import save_random_checkpoint

    made: dict[str, Path] = {}

    def make(name: str) -> Path:
        if name == "midas-small":
            return request.getfixturevalue("random_weights")
        if name not in made:
            with torch_threads(1):
                made[name] = save_random_checkpoint(model_cache / f"random-{name}.pth", RANDOM_SEED, name)
        return made[name]

    return make


@pytest.fixture(scope="session")
def random_onnx_for(request: pytest.FixtureRequest, random_checkpoint_for: Callable[[str], Path], model_cache: Path) -> Callable[[str], Path]:
    """``random_onnx_for(name)``: that checkpoint exported to ONNX (metadata included) through the
    same cache as the official weights, once per session (midas-small is ``random_onnx``)."""
    from stream.model.export import onnx_for_weights

    made: dict[str, Path] = {}

    def make(name: str) -> Path:
        if name == "midas-small":
            return request.getfixturevalue("random_onnx")
        if name not in made:
            with torch_threads(1):
                made[name] = onnx_for_weights(random_checkpoint_for(name), model_cache, name=name)
        return made[name]

    return make


@contextlib.contextmanager
def torch_threads(count: int) -> Iterator[None]:
    """torch on ``count`` threads inside the block: on two shared cores, torch's second thread
    mostly waits for the first (a ViT forward runs 3-4x slower with two)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@pytest.fixture(scope="module")
def one_torch_thread() -> Iterator[None]:
    """A module of heavy torch forwards on one thread (see ``torch_threads``)."""
    with torch_threads(1):
        yield


@pytest.fixture
def xvfb_display():
    """A private Xvfb server (640x480, its own display number), stopped after the test."""
    from stream.bench.xvfb import virtual_display

    with virtual_display(640, 480) as display:
        if display is None:
            pytest.skip("Xvfb is not installed or did not start")
        yield display


@pytest.fixture(autouse=True)
def no_leaked_workers():
    """Every pipeline thread (``depth-*``) a test starts has ended when it is over."""
    yield
    deadline = time.monotonic() + 5.0
    while True:
        alive = [t.name for t in threading.enumerate() if t.name.startswith("depth-") and t.is_alive()]
        if not alive or time.monotonic() > deadline:
            break
        time.sleep(0.01)
    assert not alive, f"threads left running by this test: {alive}"


@pytest.fixture(scope="session", autouse=True)
def private_model_cache(model_cache: Path):
    """Engine decisions and int8 copies made by app runs (also in subprocesses) stay in the session's model cache."""
    import os

    from stream.core.cache import CACHE_ENV

    old = os.environ.get(CACHE_ENV)
    os.environ[CACHE_ENV] = str(model_cache)
    yield
    if old is None:
        os.environ.pop(CACHE_ENV, None)
    else:
        os.environ[CACHE_ENV] = old


@pytest.fixture(autouse=True)
def onnxruntime_fp32_unless_measured(request, monkeypatch):
    """In-process app runs use ORT fp32 (what their expected numbers come from) unless a test measures engines.

    A test that measures sees a quiet machine (the tests share their cores with others; the
    busy detector is tested with its own fakes), so its decision is cached as on a quiet one.
    """
    from stream.engines import adaptive, busy, choose

    monkeypatch.setattr(choose, "others_cpu", busy.never_busy)
    monkeypatch.setattr(adaptive, "others_cpu", busy.never_busy)
    if "measures_engines" in request.keywords:
        return

    def pinned(model, engine, precision, *args, **kwargs):
        return choose.Choice("onnxruntime" if engine == "auto" else engine, "fp32" if precision == "auto" else precision,
                             "pinned by tests", [])

    monkeypatch.setattr(choose, "decide", pinned)


def pytest_configure(config) -> None:
    config.addinivalue_line("markers", "measures_engines: the test runs the real engine choice (no ORT fp32 pin)")
