"""Depth colours over time: ``stable`` does not flicker and recovers from a cut, ``fixed`` is exact,
every kind gives the model's values back, odd frames do not break it, and the settings are checked.

Flicker is measured as a viewer sees it (mean change of the 0-255 index between frames) on
synthetic MiDaS-like clips with fixed seeds (``stream.view.flicker``): no timing, no network.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

from stream import launch
from stream.config.settings import Settings, load_settings
from stream.core.errors import ConfigError
from stream.core.frames import Normalised
from stream.view.flicker import Clip, clip_frames, flicker_figures, recovery_frames
from stream.view.normalize import Fixed, PerFrame, Stable, make_normaliser

ROOT = Path(__file__).resolve().parents[1]
SMALL = Clip(width=160, height=120)
KINDS = {"stable": lambda: make_normaliser("stable"), "frame": lambda: make_normaliser("frame"),
         "fixed": lambda: make_normaliser("fixed", (0.0, 3000.0))}


@pytest.fixture(autouse=True)
def no_model(monkeypatch) -> None:
    """A settings mistake must stop the run before the model is looked for (no download here)."""
    from stream.model import weights

    def reached(*_args, **_kwargs):
        raise AssertionError("a bad config reached the model download")

    monkeypatch.setattr(weights, "ensure_weights", reached)


def test_stable_flickers_at_most_a_third_of_frame() -> None:
    figures = flicker_figures(make_normaliser, SMALL)
    assert figures["frame"] > 3.0  # the clip does make per-frame min-max pump
    assert figures["stable"] <= figures["frame"] / 3
    assert figures["stable"] <= 1.1 * figures["floor"]  # as steady as knowing the true scale and shift


def test_stable_recovers_from_a_cut_within_5_frames() -> None:
    cut_at = SMALL.frames // 2
    frames = clip_frames(Clip(**{**SMALL.__dict__, "cut_at": cut_at}))
    assert recovery_frames(Stable, frames, cut_at) <= 5
    never_resets = recovery_frames(lambda: Stable(cut_ratio=np.inf, cut_floor=np.inf), frames, cut_at)
    assert never_resets > 5  # the clip's cut is one that smoothing alone is slow to get over


def test_stable_resets_once_per_scene() -> None:
    stable = Stable()
    for depth in clip_frames(Clip(**{**SMALL.__dict__, "cut_at": 40})):
        stable(depth)
    assert stable.resets == 2  # the first frame and the cut; the walking object is no cut


def test_fixed_maps_the_range_exactly() -> None:
    depth = np.array([[100.0, 200.0, 300.0, 400.0], [50.0, 500.0, 250.0, 175.0]], np.float32)
    result = make_normaliser("fixed", (100.0, 400.0))(depth)
    expected = np.clip((depth - 100.0) / 300.0, 0, 1)
    np.testing.assert_allclose(result.index, expected, atol=1e-7)
    assert (result.lo, result.hi, result.scale, result.shift) == (100.0, 400.0, 1.0, 0.0)


@pytest.mark.parametrize("kind", list(KINDS))
def test_raw_gives_the_model_values_back(kind: str) -> None:
    normaliser = KINDS[kind]()
    for depth in clip_frames(Clip(**{**SMALL.__dict__, "frames": 12}))[::3]:
        result = normaliser(depth)
        inside = (result.index > 0) & (result.index < 1)
        assert inside.mean() > 0.5
        np.testing.assert_allclose(result.raw(result.index[inside]), depth[inside], rtol=1e-3)
        stored = Normalised(result.index, **result.sidecar())  # what a depth file keeps beside it
        np.testing.assert_allclose(stored.raw(result.index[inside]), depth[inside], rtol=1e-3)


def degenerate_runs() -> dict[str, list[np.ndarray]]:
    good = clip_frames(Clip(**{**SMALL.__dict__, "frames": 3}))
    holes = good[1].copy()
    holes[::7, ::5] = np.nan
    holes[3, 3] = np.inf
    return {
        "flat-first": [np.full((120, 160), 5.0, np.float32), *good],
        "flat-after": [good[0], np.full((120, 160), 5.0, np.float32), good[1]],
        "nan-pixels": [holes, good[0], holes],
        "all-nan": [np.full((120, 160), np.nan, np.float32), good[0], np.full((120, 160), np.nan, np.float32)],
        "tiny": [np.ones((2, 2), np.float32), np.array([[1.0, 2.0], [3.0, 4.0]], np.float32)],
        "size-change": [good[0], good[1][:60, :80].copy(), good[2]],
        "zeros": [np.zeros((120, 160), np.float32)] * 3,
    }


@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("run", list(degenerate_runs()))
def test_odd_frames_do_not_break_it(kind: str, run: str) -> None:
    normaliser = KINDS[kind]()
    with warnings.catch_warnings(), np.errstate(divide="raise", invalid="raise", over="raise"):
        warnings.simplefilter("error")
        for depth in degenerate_runs()[run]:
            result = normaliser(depth)
            assert result.index.shape == depth.shape and result.index.dtype == np.float32
            assert np.all(np.isfinite(result.index)) and result.index.min() >= 0 and result.index.max() <= 1
            assert np.isfinite([result.lo, result.hi, result.scale, result.shift]).all() and result.scale != 0
            assert np.all(np.isfinite(result.raw(result.index)))


@pytest.mark.parametrize("normaliser", [Stable(), PerFrame()], ids=["stable", "frame"])
def test_a_flat_frame_shows_one_colour_and_its_value(normaliser) -> None:
    result = normaliser(np.full((120, 160), 7.5, np.float32))
    assert np.all(result.index == result.index[0, 0])
    np.testing.assert_allclose(result.raw(result.index), 7.5)


def test_nan_pixels_show_as_far() -> None:
    good = clip_frames(Clip(**{**SMALL.__dict__, "frames": 2}))
    holes = good[1].copy()
    holes[10:20, 10:20] = np.nan
    for normaliser in (Stable(), PerFrame(), Fixed(0.0, 3000.0)):
        normaliser(good[0])
        assert np.all(normaliser(holes).index[10:20, 10:20] == 0)


def test_default_is_stable() -> None:
    assert Settings().display.normalize == "stable" and Settings().display.range is None
    assert isinstance(make_normaliser(), Stable)
    shipped = load_settings(ROOT / "config.yaml")
    assert shipped.display.normalize == "stable"


def test_settings_choose_the_normaliser(monkeypatch, random_onnx) -> None:
    """The app hands the pipeline the normaliser the settings name (and the fixed range)."""
    from stream.runtime import single
    from stream.runtime.run import run

    seen = []
    real = single.Pipeline

    def recording(*args, **kwargs):
        seen.append(kwargs["normaliser"])
        return real(*args, **kwargs)

    monkeypatch.setattr(single, "Pipeline", recording)
    base = {"source": "synthetic:64x48", "headless": True, "max_frames": 2, "model": {"onnx": random_onnx}}
    run(load_settings(None, {**base, "display": {"progress": False}}))
    run(load_settings(None, {**base, "display": {"progress": False, "normalize": "fixed", "range": [1, 9]}}))
    assert isinstance(seen[0], Stable)
    assert isinstance(seen[1], Fixed) and (seen[1].lo, seen[1].hi) == (1.0, 9.0)


@pytest.mark.parametrize(
    "argv,expected",
    [
        (["--normalize", "fixed"], ["'display.range'", "display.normalize is fixed", "--set display.range=[0,1000]"]),
        (["--normalize", "fixed", "--set", "display.range=[5,1]"], ["'display.range'", "lo < hi"]),
        (["--set", "display.range=[0,.inf]"], ["'display.range'", "finite"]),
        (["--set", "display.range=[1,2,3]"], ["'display.range'"]),
        (["--set", "display.normalize=sometimes"], ["'display.normalize'", "sometimes", "'stable'"]),
    ],
    ids=["fixed-without-range", "lo-not-below-hi", "infinite", "three-numbers", "unknown-kind"],
)
def test_bad_settings_are_one_line_exit_2(capsys, argv: list[str], expected: list[str]) -> None:
    code = launch.main(["--source", "synthetic", "--headless", "--max-frames", "1", *argv])
    lines = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("error: ")
    for text in expected:
        assert text in lines[0]


def test_bad_range_in_a_file_names_the_file(tmp_path) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text("display:\n  normalize: fixed\n  range: [3, 3]\n")
    with pytest.raises(ConfigError) as err:
        load_settings(config)
    assert str(config) in str(err.value) and "'display.range'" in str(err.value)
