"""This CPU's int8 instruction facts: the best int8 instruction it has for XNNPACK's kernels.

Facts only. Whether int8 pays on this CPU for a given model is measured, not assumed: the
benchmark's q8 / fp32 line and tune's table say it (conv-heavy models can gain on AVX2, where
int8 widens to int16, and depthwise-heavy ones lose; with an int8 dot-product instruction,
AVX512-VNNI / AVX-VNNI / AMX on x86, SDOT/UDOT or I8MM on Arm, int8 usually gains more).

``detect()`` reads the CPU flags through :mod:`examples.common.machine` (py-cpuinfo); when
they cannot be read, the level is ``"unknown"``.

    >>> caps = detect()
    >>> caps.int8_level              # "amx_int8", "avx512_vnni", ..., "avx2", "none", "unknown"
    >>> caps.describe()              # one line for the benchmark report / CLI
"""

from __future__ import annotations

from dataclasses import dataclass

from examples.common import machine

# int8 instruction levels, best first: (level, flags that all must be present, int8 dot product?)
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
    int8_dot_product: bool  # an int8 dot-product instruction (VNNI, AMX, SDOT, I8MM)
    reason: str

    def describe(self) -> str:
        flags = " ".join(self.flags) or "-"
        return (f"CPU: {self.model}; int8 instructions: {self.int8_level} ({self.reason}); flags: {flags}. "
                "Whether int8 is faster here is measured: the benchmark's q8 / fp32 line or tune.")

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
            "int8_dot_product": self.int8_dot_product,
            "reason": self.reason,
        }


def verdict(model: str, flags) -> CpuCaps:
    """The int8 instruction level of a CPU with these flags (lower case, as /proc/cpuinfo writes them)."""
    flags = set(flags)
    if not flags:
        return CpuCaps(model, (), "unknown", False, "CPU flags not readable")
    reported = tuple(f for f in REPORTED_FLAGS if f in flags)
    for level, needed, dot_product in _LEVELS:
        if all(f in flags for f in needed):
            reason = "int8 dot products" if dot_product else "SIMD int8, no int8 dot-product instruction"
            return CpuCaps(model, reported, level, dot_product, f"{level}: {reason}")
    return CpuCaps(model, reported, "none", False, "no SIMD int8 support found")


def detect(cpu: dict | None = None) -> CpuCaps:
    """This CPU's capability; ``cpu``: :func:`examples.common.machine.cpu_facts`'s dict
    (read from this machine when omitted)."""
    cpu = machine.cpu_facts() if cpu is None else cpu
    return verdict(cpu.get("brand") or "unknown", cpu.get("flags") or ())
