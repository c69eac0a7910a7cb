"""``model.net_size: auto``: the largest network input holding the live target, searched on a fake engine, cached, said.

The search is tested on a fake engine whose cost grows with its input area (no clock: its
"seconds per frame" is a formula), so the pick is exact; one end-to-end run with a real
engine checks the plumbing (flag, start-up line, cache, ``--remeasure``) without asserting
which size a shared machine's timing gives.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from stream.config.settings import load_settings
from stream.core.errors import ConfigError
from stream.core.modelinfo import MIDAS_SMALL, ModelInfo
from stream.engines.adaptive import HEADROOM, candidate_sizes, decide_size, fit_size, search
from stream.engines.base import network_size
from stream.engines.busy import never_busy
from stream.engines.choose import forget

DA2 = ModelInfo(name="depth-anything-v2-small", multiple=14, net_size=252, trained_size=518)
FRAME = (640, 480)


class FakeEngine:
    """An engine whose seconds per frame grow with its network input's area: ``at_256`` for a 256x192 input."""

    def __init__(self, info: ModelInfo, size: int, at_256: float) -> None:
        self.width, self.height = network_size(*FRAME, size, info.multiple)
        self.seconds = at_256 * (self.width * self.height) / (256 * 192)


def fake_timer(info: ModelInfo, at_256: float, calls: list[int] | None = None):
    def time_at(size: int) -> float:
        if calls is not None:
            calls.append(size)
        return FakeEngine(info, size, at_256).seconds
    return time_at


def quiet():
    return never_busy


def test_candidates_are_the_models_multiples_up_to_its_trained_size() -> None:
    assert candidate_sizes(MIDAS_SMALL) == [64, 96, 128, 160, 192, 224, 256]
    sizes = candidate_sizes(DA2)
    assert sizes[-1] == 518 and all(size % 14 == 0 for size in sizes) and sizes[0] >= 518 // 4


def test_a_slow_cpu_gets_the_largest_size_that_holds_the_target_found_in_few_timings() -> None:
    calls: list[int] = []
    # 10 fps at 256x192: 15 fps x headroom needs 18.75; the largest size above that wins
    size, measured = search(candidate_sizes(MIDAS_SMALL), fake_timer(MIDAS_SMALL, 0.1, calls), 15 * HEADROOM)
    fps = {s: 1 / FakeEngine(MIDAS_SMALL, s, 0.1).seconds for s in candidate_sizes(MIDAS_SMALL)}
    holding = [s for s, f in fps.items() if f >= 15 * HEADROOM]
    assert size == max(holding) and size < 256
    assert len(set(calls)) <= 3 < len(candidate_sizes(MIDAS_SMALL))  # binary search, not every size


def test_the_start_up_line_names_the_size_the_target_and_what_the_default_gives() -> None:
    choice = fit_size(MIDAS_SMALL, 15, FRAME, fake_timer(MIDAS_SMALL, 0.1), busy=quiet())
    assert choice.holds and choice.net_size == 192 and choice.input == (192, 128)
    assert choice.line().startswith("network 192x128 to hold 15 fps on this CPU (the model alone runs 20 fps)")
    assert "256x192 gives 10 fps" in choice.line()


def test_a_fast_cpu_goes_up_to_the_trained_size_and_never_above() -> None:
    choice = fit_size(DA2, 15, FRAME, fake_timer(DA2, 0.001), busy=quiet())
    assert choice.net_size == 518 and choice.input == network_size(*FRAME, 518, 14)
    assert all(side % 14 == 0 for side in choice.input) and "above the default 252x196" in choice.line()


def test_a_cpu_too_slow_even_for_the_smallest_size_says_so() -> None:
    choice = fit_size(MIDAS_SMALL, 15, FRAME, fake_timer(MIDAS_SMALL, 2.0), busy=quiet())
    assert choice.net_size == 64 and not choice.holds
    assert "below the 15 fps target; lower display.target_fps" in choice.line()


def test_the_size_is_cached_per_key_and_a_busy_measurement_is_not(tmp_path: Path) -> None:
    engine_key = {"model_sha256": "ab" * 32, "model": "midas-small", "engine": "onnxruntime", "precision": "fp32", "threads": 2}
    cache = (tmp_path, "engine-midas-small-abababab-", engine_key)
    busy_choice = decide_size(MIDAS_SMALL, 15, FRAME, fake_timer(MIDAS_SMALL, 0.1), cache, busy=lambda: (lambda: 1.5))
    assert busy_choice.busy == 1.5 and "busy while measuring" in busy_choice.line()
    assert not list(tmp_path.glob("engines/*.json"))  # used for this run only
    first = decide_size(MIDAS_SMALL, 15, FRAME, fake_timer(MIDAS_SMALL, 0.1), cache, busy=quiet())
    assert len(list(tmp_path.glob("engines/*size*.json"))) == 1

    def must_not_time(size: int) -> float:
        raise AssertionError("a cached size was measured again")

    again = decide_size(MIDAS_SMALL, 15, FRAME, must_not_time, cache, busy=quiet())
    assert (again.net_size, again.input, again.line()) == (first.net_size, first.input, first.line())
    # another target or another aspect is another question
    other = decide_size(MIDAS_SMALL, 25, FRAME, fake_timer(MIDAS_SMALL, 0.1), cache, busy=quiet())
    assert other.net_size < first.net_size and len(list(tmp_path.glob("engines/*size*.json"))) == 2


def test_config_and_flags_take_auto_and_a_target() -> None:
    settings = load_settings(None, {"model": {"net_size": "auto"}, "display": {"target_fps": 10}})
    assert settings.model.net_size == "auto" and settings.model.fixed_net_size() is None
    assert settings.display.target_fps == 10 and load_settings(None, {}).display.target_fps == 15
    assert load_settings(None, {"model": {"net_size": 320}}).model.fixed_net_size() == 320
    for bad in ({"model": {"net_size": "big"}}, {"model": {"net_size": 8}}, {"display": {"target_fps": 0}}):
        with pytest.raises(ConfigError):
            load_settings(None, bad)


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "run_stream.py", "--headless", "--engine", "onnxruntime", "--precision", "fp32",
                           *args], capture_output=True, text=True, timeout=300, cwd=Path(__file__).parents[1])


def test_live_mode_sizes_its_engine_says_so_caches_it_and_remeasure_forgets(random_onnx: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    live = ["--source", "synthetic:320x240", "--mode", "live", "--model", str(random_onnx), "--cache-dir", str(cache),
            "--net-size", "auto", "--max-frames", "3"]
    done = run_cli(*live)
    assert done.returncode == 0, done.stderr
    line = re.search(r"network (\d+)x(\d+)(?: to hold 15 fps|, the smallest tried)", done.stderr)
    assert line, done.stderr
    assert int(line[1]) % 32 == 0 and int(line[2]) % 32 == 0 and int(line[1]) <= 256
    sized = list((cache / "engines").glob("*size*.json"))
    if "busy while measuring" not in done.stderr:  # a shared machine may be busy: then nothing is cached, as it should
        assert len(sized) == 1
        again = run_cli(*live)
        assert "measuring the network size" not in again.stderr and line[0] in again.stderr
        assert sized[0] in forget(random_onnx, cache)  # what `python -m stream.model engines --remeasure` does first
        assert not list((cache / "engines").glob("*size*.json"))


def test_a_file_keeps_the_models_own_size_with_auto(random_onnx: Path, tmp_path: Path) -> None:
    done = run_cli("--source", "synthetic:320x240", "--mode", "file", "--max-frames", "2", "--model", str(random_onnx),
                   "--cache-dir", str(tmp_path), "--net-size", "auto", "--output", str(tmp_path / "out.mp4"))
    assert done.returncode == 0, done.stderr
    assert "net_size auto sizes live mode only; a file is not in a hurry" in done.stderr
    assert "to hold 15 fps" not in done.stderr and "measuring the network size" not in done.stderr


def test_a_size_far_beyond_training_is_refused_before_the_engines_are_measured(random_onnx: Path, tmp_path: Path) -> None:
    """Issue 23: ``--set model.net_size=2048`` was still "measuring engines" after 120 s; now one line, before any engine."""
    done = subprocess.run([sys.executable, "run_stream.py", "--headless", "--source", "synthetic:64x48", "--max-frames", "1",
                           "--model", str(random_onnx), "--cache-dir", str(tmp_path), "--set", "model.net_size=2048",
                           "--output", str(tmp_path / "out.mp4")],
                          capture_output=True, text=True, timeout=120, cwd=Path(__file__).parents[1])
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2, done.stderr[-2000:]
    assert lines[-1] == ("error: model.net_size 2048 is more than 2x the 256 pixels midas-small was trained at (at most 512); "
                         "lower --net-size, e.g. to 256 (its default) or auto")
    assert "measuring engines" not in done.stderr and "engine:" not in done.stderr
    assert not (tmp_path / "out.mp4").exists() and not list(tmp_path.glob("engines/*.json"))


def test_twice_the_trained_size_is_the_largest_taken(random_onnx: Path, tmp_path: Path) -> None:
    from stream.core.errors import ModelError
    from stream.engines.choose import check_net_size, engines_for

    check_net_size(random_onnx, 512)
    check_net_size(random_onnx, None)  # the model's own
    with pytest.raises(ModelError, match="model.net_size 513 is more than 2x"):
        engines_for(random_onnx, "onnxruntime", "fp32", 1, 513, tmp_path)
