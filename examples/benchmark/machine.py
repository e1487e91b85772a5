"""What the numbers were measured on: CPU model, ISA flags, cores, OS and package versions."""

from __future__ import annotations

import os
import platform
from importlib import metadata

from examples.quantization.cpu_caps import parse_cpuinfo as parse_cpu_caps

# /proc/cpuinfo flag -> name in the report. VNNI comes in two flavours: AVX-512 VNNI and AVX-VNNI.
ISA_FLAGS = {
    "avx2": "AVX2",
    "fma": "FMA",
    "avx512f": "AVX-512F",
    "avx512bw": "AVX-512BW",
    "avx512_vnni": "AVX-512 VNNI",
    "avx_vnni": "AVX-VNNI",
    "avx512_bf16": "AVX-512 BF16",
    "amx_int8": "AMX-INT8",
    # Arm (Linux reports "Features" instead of "flags")
    "asimddp": "NEON dot product",
    "i8mm": "I8MM",
    "sve": "SVE",
}

PACKAGES = ("torch", "torchvision", "executorch", "torchao", "onnxruntime", "onnx", "onnxscript", "numpy", "matplotlib")


def parse_cpuinfo(text: str) -> dict:
    """``{"cpu_model", "isa", "int8"}`` from the text of ``/proc/cpuinfo`` (first processor block);
    the flags and the int8 capability come from :mod:`examples.quantization.cpu_caps`."""
    caps = parse_cpu_caps(text)
    return {
        "cpu_model": None if caps.model == "unknown" else caps.model,
        "isa": [name for flag, name in ISA_FLAGS.items() if flag in caps.flags],
        "int8": caps.as_dict(),
    }


def package_versions(names=PACKAGES) -> dict[str, str | None]:
    versions = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def machine_info() -> dict:
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            cpu = parse_cpuinfo(f.read())
    except OSError:
        cpu = parse_cpuinfo("")
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        usable = os.cpu_count()
    return {
        "cpu_model": cpu["cpu_model"] or platform.processor() or platform.machine(),
        "isa": cpu["isa"],
        "int8": cpu["int8"],
        "logical_cpus": os.cpu_count(),
        "usable_cpus": usable,
        "arch": platform.machine(),
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
    }


def fingerprint(argv, started: float, ended: float) -> dict:
    """What tells this run's machine apart, with the command line and times of the run."""
    import time

    info = machine_info()
    info.update(command=list(argv), started=time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(started)),
                ended=time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(ended)))
    return info
