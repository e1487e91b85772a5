"""What the numbers were measured on: CPU model, ISA flags, cores, OS and package versions."""

from __future__ import annotations

import os
import platform
from importlib import metadata

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
    """``{"cpu_model", "isa"}`` from the text of ``/proc/cpuinfo`` (the first processor block)."""
    model, flags = None, set()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip().lower()
        if key in ("model name", "hardware", "cpu model") and model is None and value.strip():
            model = value.strip()
        elif key in ("flags", "features") and not flags:
            flags = set(value.split())
    return {"cpu_model": model, "isa": [name for flag, name in ISA_FLAGS.items() if flag in flags]}


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
        cpu = {"cpu_model": None, "isa": []}
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        usable = os.cpu_count()
    return {
        "cpu_model": cpu["cpu_model"] or platform.processor() or platform.machine(),
        "isa": cpu["isa"],
        "logical_cpus": os.cpu_count(),
        "usable_cpus": usable,
        "arch": platform.machine(),
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
    }
