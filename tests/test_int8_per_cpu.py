"""int8 quantised the way the CPU that runs it needs (VNNI or not), keyed by it; auto never picks an int8 that buys nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

import stream.engines.quantize as quantize_mod
from stream.core import cpu
from stream.engines.choose import Choice, Row, no_gain, pick
from stream.engines.quantize import int8_name, quant_settings, scheme_for
from stream.model.table import format_table
from tests.test_cpu import ALDER_LAKE, ICE_LAKE, NEOVERSE_N1, SAPPHIRE_RAPIDS, ZEN2, ZEN4, arm, x86
from tests.test_int8 import mean_normalised_diff


@pytest.mark.parametrize(("text", "scheme"), [
    (x86(ZEN2, "AuthenticAMD"), "u8u8"),  # vpmaddubsw's 16-bit sums saturate with signed weights
    (x86("fpu sse sse2 ssse3"), "u8u8"),
    (x86(ZEN4, "AuthenticAMD"), "u8s8"),
    (x86(ICE_LAKE), "u8s8"),
    (x86(ALDER_LAKE), "u8s8"),
    (x86(SAPPHIRE_RAPIDS), "u8s8"),
    (arm(NEOVERSE_N1), "u8s8"),
])
def test_scheme_follows_vnni(text: str, scheme: str) -> None:
    assert scheme_for(cpu.parse_cpuinfo(text)) == scheme


def test_scheme_of_this_run_follows_the_faked_flags(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(cpu.FLAGS_ENV, ZEN2)
    assert scheme_for() == "u8u8"
    monkeypatch.setenv(cpu.FLAGS_ENV, ZEN4)
    assert scheme_for() == "u8s8"


def test_cache_name_differs_by_scheme(random_onnx: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    names = {scheme: int8_name(random_onnx, scheme) for scheme in quantize_mod.SCHEMES}
    assert len(set(names.values())) == len(names) and all(f"-int8-{s}-" in n for s, n in names.items())
    made: list[str | None] = []
    monkeypatch.setattr(quantize_mod, "quantize_model", lambda source, target, frames, scheme=None: made.append(scheme) or target)
    monkeypatch.setenv(cpu.FLAGS_ENV, ZEN2)
    assert quantize_mod.model_for_precision(random_onnx, "int8", tmp_path).name == names["u8u8"]
    monkeypatch.setenv(cpu.FLAGS_ENV, ZEN4)
    assert quantize_mod.model_for_precision(random_onnx, "int8", tmp_path).name == names["u8s8"]
    assert made == ["u8u8", "u8s8"]
    assert quant_settings(quantize_mod.read_info(random_onnx)) == "qdq-u8s8-perchannel-minmax-v1"  # VNNI copies' key as before


def test_the_non_vnni_scheme_stays_within_0_02_of_fp32(random_onnx: Path, tmp_path: Path) -> None:
    int8 = quantize_mod.int8_for_model(random_onnx, tmp_path, scheme="u8u8")
    assert int8.name == int8_name(random_onnx, "u8u8") and quantize_mod.is_quantized(int8)
    assert mean_normalised_diff(random_onnx, int8) <= 0.02


def rows(int8_seconds: float) -> list[Row]:
    return [Row("onnxruntime", "fp32", 0.100, 0.0), Row("onnxruntime", "int8", int8_seconds, 0.005),
            Row("openvino", "fp32", 0.090, 0.001)]


def test_auto_never_picks_an_int8_with_no_gain() -> None:
    slow = rows(0.095)  # faster than every fp32, but not 10% faster than its own engine's
    assert no_gain(slow[1], slow) and pick(slow).precision == "fp32" and pick(slow).engine == "openvino"
    fast = rows(0.060)
    assert not no_gain(fast[1], fast) and (pick(fast).engine, pick(fast).precision) == ("onnxruntime", "int8")
    alone = [Row("onnxruntime", "int8", 0.2, 0.005)]  # --precision int8: nothing to compare, taken as set
    assert pick(alone, float("inf")).precision == "int8"


def test_the_engine_table_says_no_gain() -> None:
    slow = rows(0.095)
    lines = format_table(Choice("openvino", "fp32", "test", slow))
    assert "no gain" in next(line for line in lines if " int8 " in line)
    assert not any("no gain" in line for line in format_table(Choice("onnxruntime", "int8", "test", rows(0.06))))


@pytest.mark.parametrize("scheme", list(quantize_mod.SCHEMES))
def test_the_quantize_command_offers_every_scheme(scheme: str) -> None:
    from stream.model.__main__ import build_parser

    args = build_parser().parse_args(["quantize", "--input", "m.onnx", "--output", "q.onnx", "--scheme", scheme])
    assert args.scheme == scheme
