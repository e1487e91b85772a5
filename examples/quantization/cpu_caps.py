"""What this CPU can do for int8 inference, and which precision the toolkit recommends on it.

XNNPACK's int8 (qs8/qc8) GEMM and depthwise kernels only beat its fp32 kernels when the CPU
has an int8 dot-product instruction: AVX512-VNNI / AVX-VNNI / AMX on x86, SDOT/UDOT (``asimddp``)
or I8MM on Arm. Without one (plain AVX2, e.g. Zen 2/Zen 3, Haswell..Skylake client) the int8
kernels widen to int16 and are slower than fp32 (see docs/PERFORMANCE.md), so the recommendation
there is fp32.

``detect()`` reads the CPU flags through :mod:`examples.benchmark.machine` (py-cpuinfo); when
they cannot be read, the capability is ``"unknown"`` and the recommendation is fp32 (the safe choice: never slower by
surprise, never less accurate).

    >>> caps = detect()
    >>> caps.recommended_precision   # "q8" or "fp32"
    >>> caps.describe()              # one line for the benchmark report / CLI
"""

from __future__ import annotations

from dataclasses import dataclass

from examples.benchmark import machine

# int8 capability levels, best first: (level, flags that all must be present, int8 beats fp32?)
_LEVELS: tuple[tuple[str, tuple[str, ...], bool], ...] = (
    ("amx_int8", ("amx_int8",), True),
    ("avx512_vnni", ("avx512_vnni",), True),
    ("avx_vnni", ("avx_vnni",), True),
    ("arm_i8mm", ("i8mm",), True),
    ("arm_dotprod", ("asimddp",), True),
    ("avx512", ("avx512f", "avx512bw"), False),
    ("avx2", ("avx2",), False),
    ("arm_neon", ("asimd",), False),
)

# Flags reported in ``CpuCaps.flags`` (the ones that matter for XNNPACK's kernel choice).
REPORTED_FLAGS = ("avx2", "fma", "avx512f", "avx512bw", "avx512_vnni", "avx_vnni", "avx512_bf16",
                  "amx_tile", "amx_int8", "amx_bf16", "asimd", "asimddp", "i8mm", "sve")


@dataclass(frozen=True)
class CpuCaps:
    model: str  # "AMD EPYC 7B13", or "unknown"
    flags: tuple[str, ...]  # the REPORTED_FLAGS this CPU has
    int8_level: str  # one of the _LEVELS names, or "none" / "unknown"
    int8_fast: bool  # int8 kernels expected faster than fp32 on this CPU
    recommended_precision: str  # "q8" or "fp32"
    reason: str

    def describe(self) -> str:
        flags = " ".join(self.flags) or "-"
        return (f"CPU: {self.model}; int8: {self.int8_level} ({'fast' if self.int8_fast else 'slow'}); "
                f"recommended precision: {self.recommended_precision} ({self.reason}); flags: {flags}")

    @property
    def cpu_class(self) -> str:
        """What a kernel choice compiled ahead of time depends on: architecture and ISA
        extensions (``"x86_64 avx2 fma"``). OpenVINO programs are refused on another class."""
        import platform

        return " ".join((platform.machine(),) + self.flags)

    def as_dict(self) -> dict:
        return {
            "model": self.model,
            "flags": list(self.flags),
            "int8_level": self.int8_level,
            "int8_fast": self.int8_fast,
            "recommended_precision": self.recommended_precision,
            "reason": self.reason,
        }


def verdict(model: str, flags) -> CpuCaps:
    """The int8 capability of a CPU with these flags (lower case, as /proc/cpuinfo writes them)."""
    flags = set(flags)
    if not flags:
        return CpuCaps(model, (), "unknown", False, "fp32", "CPU flags not readable")
    reported = tuple(f for f in REPORTED_FLAGS if f in flags)
    for level, needed, fast in _LEVELS:
        if all(f in flags for f in needed):
            if fast:
                return CpuCaps(model, reported, level, True, "q8", f"{level} int8 dot products")
            return CpuCaps(model, reported, level, False, "fp32",
                           f"{level} without an int8 dot-product instruction: int8 kernels slower than fp32")
    return CpuCaps(model, reported, "none", False, "fp32", "no SIMD int8 support found")


def detect(cpu: dict | None = None) -> CpuCaps:
    """This CPU's capability; ``cpu``: :func:`examples.benchmark.machine.cpu_facts`'s dict
    (read from this machine when omitted)."""
    cpu = machine.cpu_facts() if cpu is None else cpu
    return verdict(cpu.get("brand") or "unknown", cpu.get("flags") or ())


if __name__ == "__main__":  # python -m examples.quantization.cpu_caps
    print(detect().describe())
