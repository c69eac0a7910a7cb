"""The CPU class and features come from cpuinfo text alone (sample texts of real CPUs), and can be faked."""

from __future__ import annotations

import pytest

from stream.core import cpu
from stream.core.cpu import CpuInfo, cpu_class, parse_cpuinfo, this_cpu, with_flags

BASE = "fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 clflush mmx fxsr sse sse2 ht syscall nx lm"
# AMD EPYC family 23 (Zen 2): AVX2 and FMA, no AVX-512, no VNNI: the machine
ZEN2 = BASE + " pni pclmulqdq ssse3 fma cx16 sse4_1 sse4_2 movbe popcnt aes xsave avx f16c rdrand hypervisor bmi1 avx2 bmi2 sha_ni"
# this machine: AMD EPYC (Zen 4) with AVX-512, VNNI and BF16
ZEN4 = ZEN2 + " avx512f avx512dq avx512ifma avx512cd avx512bw avx512vl avx512_bf16 avx512vbmi avx512_vbmi2 gfni avx512_vnni"
ICE_LAKE = BASE + " ssse3 fma sse4_1 sse4_2 avx f16c avx2 avx512f avx512dq avx512cd avx512bw avx512vl avx512_vnni avx512vbmi"
ALDER_LAKE = BASE + " ssse3 fma sse4_1 sse4_2 avx f16c avx2 avx_vnni sha_ni gfni vaes"
SAPPHIRE_RAPIDS = ICE_LAKE + " avx_vnni avx512_bf16 amx_bf16 amx_tile amx_int8"
NEOVERSE_N1 = "fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp ssbs"
NEOVERSE_V1 = NEOVERSE_N1 + " sha3 sm3 sm4 sve asimdfhm dit uscat ilrcpc flagm dcpodp svei8mm svebf16 i8mm bf16 dgh rng"


def x86(flags: str, vendor: str = "GenuineIntel") -> str:
    return f"processor\t: 0\nvendor_id\t: {vendor}\ncpu family\t: 6\nmodel name\t: a CPU\ncpu MHz\t\t: 2600.000\nflags\t\t: {flags}\n"


def arm(features: str) -> str:
    return f"processor\t: 0\nBogoMIPS\t: 50.00\nFeatures\t: {features}\nCPU implementer\t: 0x41\n"


@pytest.mark.parametrize(("text", "expected", "vnni"), [
    (x86(ZEN2, "AuthenticAMD"), "avx2", False),
    (x86(ZEN4, "AuthenticAMD"), "avx512-bf16", True),
    (x86(ICE_LAKE), "avx512-vnni", True),
    (x86(ALDER_LAKE), "avx-vnni", True),
    (x86(SAPPHIRE_RAPIDS), "amx", True),
    (x86(BASE + " sse4_2 avx"), "sse", False),
    (arm(NEOVERSE_N1), "arm-dotprod", False),
    (arm(NEOVERSE_V1), "arm-i8mm", False),
    ("", "unknown", False),
])
def test_class_and_vnni_from_cpuinfo(text: str, expected: str, vnni: bool) -> None:
    info = parse_cpuinfo(text, cores=2)
    assert info.cpu_class == expected and info.vnni is vnni


def test_features_name_what_matters() -> None:
    assert parse_cpuinfo(x86(ZEN2)).features == ["avx", "avx2", "fma", "f16c"]
    assert parse_cpuinfo(arm(NEOVERSE_V1)).features == ["asimddp", "i8mm", "bf16", "sve", "asimd"]


def test_peak_is_nominal_flop_per_cycle_times_cores_times_clock() -> None:
    assert parse_cpuinfo(x86(ZEN2, "AuthenticAMD"), cores=2).peak_gflops() == pytest.approx(32 * 2 * 2.6)
    assert parse_cpuinfo(x86(SAPPHIRE_RAPIDS), cores=4).peak_gflops() == pytest.approx(64 * 4 * 2.6)
    # Zen 4 runs 512-bit operations as two 256-bit halves: AVX2's width per cycle
    assert parse_cpuinfo(x86(ZEN4, "AuthenticAMD"), cores=2).peak_gflops() == pytest.approx(32 * 2 * 2.6)
    unknown_clock = CpuInfo("x86", frozenset(ZEN2.split()), cores=2)
    assert unknown_clock.peak_gflops() is None and "unknown" in str(unknown_clock.as_dict()["peak_note"])
    assert parse_cpuinfo(x86(ZEN2), cores=2, mhz=3000.0).mhz == 3000.0  # cpufreq's maximum wins over "cpu MHz"


def test_the_flags_can_be_faked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(cpu.FLAGS_ENV, ZEN2)
    assert this_cpu().cpu_class == "avx2" and not this_cpu().vnni
    monkeypatch.setenv(cpu.FLAGS_ENV, NEOVERSE_N1)
    assert this_cpu().arch == "arm" and this_cpu().cpu_class == "arm-dotprod"
    assert with_flags(CpuInfo("x86"), "avx2 avx512f").cpu_class == "avx512" == cpu_class("x86", {"avx512f"})
