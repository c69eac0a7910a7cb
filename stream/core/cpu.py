"""What this CPU can do, in one place: its features, the one class that decides speed, its nominal peak.

Speed and even int8 accuracy depend on a few instruction sets (VNNI decides whether signed int8
weights saturate; BF16 and AMX decide whether OpenVINO's bf16 pays), so the bench names the
class of every figure and the quantiser keys its scheme by it. Read from ``/proc/cpuinfo``
(Linux; x86 ``flags``, ARM ``Features``); elsewhere the class is ``unknown``. Everything is a
function of the cpuinfo text, so tests pass sample texts; ``DEPTH_STREAM_CPU_FLAGS`` (a
space-separated flag list) replaces the flags of the running machine for tests and benches.
No heavy imports: the engines, the bench and the CLI all read it.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass, field
from pathlib import Path

FLAGS_ENV = "DEPTH_STREAM_CPU_FLAGS"

# Nominal fp32 FLOP per cycle per core for each class: vector lanes x 2 (a fused multiply-add) x
# FMA units, assuming two full-width FMA units (AVX-512 64, AVX2 32, SSE 8 (separate add and
# multiply), NEON 2 x 128-bit 16). A data-sheet figure, not a measurement: real cores may have
# one unit (some Ice Lake, Zen 4 runs 512-bit operations as two 256-bit halves: see ``peak_flop_per_cycle``).
FLOP_PER_CYCLE = {
    "amx": 64, "avx512-bf16": 64, "avx512-vnni": 64, "avx512": 64, "avx-vnni": 32, "avx2": 32, "sse": 8,
    "arm-i8mm": 16, "arm-dotprod": 16, "arm": 16,
}
X86_VNNI_FLAGS = ("avx512_vnni", "avx_vnni", "amx_int8")
ARM_FEATURES = ("asimddp", "i8mm", "bf16", "sve", "sve2", "asimd")


@dataclass(frozen=True)
class CpuInfo:
    """The features that decide speed, the class they make, and what is known of cores and clock."""

    arch: str  # "x86", "arm" or "unknown"
    flags: frozenset[str] = field(default_factory=frozenset)
    vendor: str = ""
    cores: int | None = None
    mhz: float | None = None

    @property
    def cpu_class(self) -> str:
        return cpu_class(self.arch, self.flags)

    @property
    def vnni(self) -> bool:
        """Whether int8 dot products need no 16-bit intermediate (x86 VNNI or AMX); ARM's dot products never did."""
        return self.arch == "x86" and any(flag in self.flags for flag in X86_VNNI_FLAGS)

    @property
    def features(self) -> list[str]:
        """The flags that matter here (not the full list): what the bench prints next to the class."""
        wanted = ("avx", "avx2", "fma", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_tile", "amx_int8",
                  "amx_bf16", "f16c") if self.arch == "x86" else ARM_FEATURES
        return [flag for flag in wanted if flag in self.flags]

    def peak_gflops(self) -> float | None:
        """Nominal fp32 GFLOP/s of all cores (FLOP/cycle x cores x GHz); None when cores or clock are unknown."""
        per_cycle = peak_flop_per_cycle(self)
        if per_cycle is None or not self.cores or not self.mhz:
            return None
        return per_cycle * self.cores * self.mhz / 1000.0

    def as_dict(self) -> dict[str, object]:
        peak = self.peak_gflops()
        return {"class": self.cpu_class, "arch": self.arch, "features": self.features, "vnni": self.vnni,
                "cores": self.cores, "mhz": self.mhz, "flop_per_cycle_per_core": peak_flop_per_cycle(self),
                "peak_gflops_fp32": round(peak, 1) if peak is not None else None,
                "peak_note": "nominal (data-sheet FMA width x units x cores x clock)" if peak is not None
                else "unknown (cores or clock not readable)"}


def cpu_class(arch: str, flags: frozenset[str] | set[str]) -> str:
    """The one class that decides speed: the best matrix-arithmetic extension the CPU has."""
    if arch == "x86":
        for name, needed in (("amx", "amx_tile"), ("avx512-bf16", "avx512_bf16"), ("avx512-vnni", "avx512_vnni"),
                             ("avx-vnni", "avx_vnni"), ("avx512", "avx512f"), ("avx2", "avx2")):
            if needed in flags:
                return name
        return "sse"
    if arch == "arm":
        return "arm-i8mm" if "i8mm" in flags else "arm-dotprod" if "asimddp" in flags else "arm"
    return "unknown"


def peak_flop_per_cycle(info: CpuInfo) -> int | None:
    """``FLOP_PER_CYCLE`` for the class, halved for an AMD AVX-512 core without AVX-VNNI (Zen 4 splits 512-bit work in two)."""
    per_cycle = FLOP_PER_CYCLE.get(info.cpu_class)
    if per_cycle and info.vendor == "AuthenticAMD" and "avx512f" in info.flags and "avx_vnni" not in info.flags:
        return per_cycle // 2
    return per_cycle


def parse_cpuinfo(text: str, cores: int | None = None, mhz: float | None = None) -> CpuInfo:
    """A ``CpuInfo`` from the text of ``/proc/cpuinfo`` (the first processor's block says it for all)."""
    fields: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        key = key.strip()
        if sep and key not in fields:
            fields[key] = value.strip()
    if "flags" in fields:
        arch, flags = "x86", fields["flags"]
    elif "Features" in fields:
        arch, flags = "arm", fields["Features"]
    else:
        arch, flags = "unknown", ""
    if mhz is None and fields.get("cpu MHz"):
        try:
            mhz = float(fields["cpu MHz"])
        except ValueError:
            mhz = None
    return CpuInfo(arch, frozenset(flags.split()), fields.get("vendor_id", ""), cores, mhz)


def max_mhz(root: Path = Path("/sys/devices/system/cpu/cpu0/cpufreq")) -> float | None:
    """The highest clock the kernel reports (cpufreq, kHz), which a peak should use; None where there is none (VMs)."""
    try:
        return int((root / "cpuinfo_max_freq").read_text().strip()) / 1000.0
    except (OSError, ValueError):
        return None


def with_flags(info: CpuInfo, flags: str) -> CpuInfo:
    """``info`` with its flags replaced (``DEPTH_STREAM_CPU_FLAGS``); ARM when they hold ``asimd``, else x86."""
    chosen = frozenset(flags.split())
    return CpuInfo("arm" if "asimd" in chosen else "x86", chosen, info.vendor if info.arch == "x86" else "",
                   info.cores, info.mhz)


@functools.lru_cache(maxsize=1)
def _detected() -> CpuInfo:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        text = ""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return parse_cpuinfo(text, cores, max_mhz())


def this_cpu() -> CpuInfo:
    """This machine's ``CpuInfo`` (read once), with ``DEPTH_STREAM_CPU_FLAGS`` applied when set."""
    info = _detected()
    override = os.environ.get(FLAGS_ENV)
    return with_flags(info, override) if override else info
