"""What the numbers were measured on: the one home of machine facts.

:func:`fingerprint` is the ``machine`` object of a benchmark result (schema version 2): it
tells machines apart (CPU vendor, family/model/stepping, ISA class, cores, memory, OS) and
records what ran (Python and package versions, git commit, command line, start/end time).
:func:`machine_id` hashes the part that must match before two runs' timings are compared.

CPU vendor, brand and flags come from ``py-cpuinfo``. It drops a stepping of 0 (it filters
"empty" values) and is slow (about 1 s), so family/model/stepping come from the small
``/proc/cpuinfo`` reader :func:`read_cpu_ids` and the py-cpuinfo answer is cached (on disk,
per boot: :data:`CPUINFO_CACHE`).
"""

from __future__ import annotations

import datetime
import functools
import hashlib
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

from examples.common.versions import package_versions as common_package_versions

CPUINFO = Path("/proc/cpuinfo")
REPO_ROOT = Path(__file__).resolve().parents[2]

# cpu flag (/proc/cpuinfo, py-cpuinfo) -> name in reports. VNNI comes in two flavours:
# AVX-512 VNNI and AVX-VNNI.
ISA_FLAGS = {
    "avx2": "AVX2",
    "fma": "FMA",
    "avx512f": "AVX-512F",
    "avx512bw": "AVX-512BW",
    "avx512_vnni": "AVX-512 VNNI",
    "avx_vnni": "AVX-VNNI",
    "avx512_bf16": "AVX-512 BF16",
    "amx_tile": "AMX-TILE",
    "amx_int8": "AMX-INT8",
    "amx_bf16": "AMX-BF16",
    # Arm (Linux reports "Features" instead of "flags")
    "asimd": "NEON",
    "asimddp": "NEON dot product",
    "i8mm": "I8MM",
    "sve": "SVE",
}

# ISA classes, best first: (class, flags that all must be present). Runs are grouped by class.
ISA_CLASSES = (
    ("AMX", ("amx_int8",)),
    ("AVX-512 VNNI+BF16", ("avx512_vnni", "avx512_bf16")),
    ("AVX-512 VNNI", ("avx512_vnni",)),
    ("AVX-512", ("avx512f", "avx512bw")),
    ("AVX2 VNNI", ("avx2", "avx_vnni")),
    ("AVX2", ("avx2",)),
    ("Arm I8MM", ("i8mm",)),
    ("Arm dotprod", ("asimddp",)),
    ("Arm NEON", ("asimd",)),
)

PACKAGES = ("torch", "torchvision", "executorch", "torchao", "onnxruntime", "onnx", "onnxscript", "openvino",
            "nncf", "numpy", "matplotlib", "py-cpuinfo")

# Fingerprint fields that identify the machine; everything else (packages, commit, kernel,
# command) may differ between two runs whose timings are compared.
IDENTITY_KEYS = ("arch", "cpu_vendor", "cpu_model", "cpu_family", "cpu_model_number", "cpu_stepping", "isa",
                 "logical_cpus", "usable_cpus", "memory_gib", "os_system")


def read_cpu_ids(text: str) -> dict[str, int | None]:
    """``{"family", "model", "stepping"}`` of the first processor in ``/proc/cpuinfo`` text
    (x86 ``cpu family`` / ``model`` / ``stepping``; Arm ``CPU architecture`` / ``CPU part`` /
    ``CPU variant``); ``None`` where the field is missing."""
    keys = {"cpu family": "family", "model": "model", "stepping": "stepping",
            "cpu architecture": "family", "cpu part": "model", "cpu variant": "stepping"}
    ids: dict[str, int | None] = {"family": None, "model": None, "stepping": None}
    for line in text.splitlines():
        if not line.strip():
            if any(v is not None for v in ids.values()):
                break  # end of the first processor block
            continue
        key, sep, value = line.partition(":")
        name = keys.get(key.strip().lower())
        if sep and name and ids[name] is None:
            try:
                ids[name] = int(value.strip(), 0)  # Arm writes hex (0xd0c)
            except ValueError:
                pass
    return ids


def isa_names(flags) -> list[str]:
    have = set(flags)
    return [name for flag, name in ISA_FLAGS.items() if flag in have]


def isa_class(flags) -> str:
    have = set(flags)
    for name, needed in ISA_CLASSES:
        if all(f in have for f in needed):
            return name
    return "other"


# py-cpuinfo's answer for this boot of this machine, kept between commands: each call of
# get_cpu_info() sleeps 1 s to time the clock, which every command writing a result would pay.
CPUINFO_CACHE = REPO_ROOT / ".cache" / "cpuinfo"
BOOT_ID = Path("/proc/sys/kernel/random/boot_id")


@functools.lru_cache(maxsize=1)
def _py_cpuinfo() -> dict:
    cached = _cpuinfo_cache_file()
    if cached is not None:
        try:
            info = json.loads(cached.read_text())
            if isinstance(info, dict):
                return info
        except (OSError, ValueError):
            pass
    info = _ask_py_cpuinfo()
    if cached is not None and info:
        from examples.common.atomic_write import write_text_atomic

        try:
            cached.parent.mkdir(parents=True, exist_ok=True)
            write_text_atomic(cached, json.dumps(info))
            for stale in cached.parent.glob("*.json"):  # earlier boots' answers
                if stale != cached:
                    stale.unlink(missing_ok=True)
        except OSError:  # a read-only checkout: asked again next time
            pass
    return info


def _cpuinfo_cache_file() -> Path | None:
    """The cache entry of this boot and CPU (``None`` where there is no boot id: not Linux).
    The key holds the boot id, /proc/cpuinfo without its changing clock lines, and the
    py-cpuinfo version, so another machine, a reboot or another py-cpuinfo asks again."""
    try:
        boot = BOOT_ID.read_text().strip()
    except OSError:
        return None
    stable = [line for line in _read_cpuinfo_text().splitlines() if not line.startswith("cpu MHz")]
    key = hashlib.sha256(json.dumps([boot, stable, package_versions(["py-cpuinfo"])]).encode()).hexdigest()
    return CPUINFO_CACHE / f"{key[:24]}.json"


def _ask_py_cpuinfo() -> dict:
    try:
        import cpuinfo
    except ImportError:  # declared in pyproject.toml; a bare environment still gets a fingerprint
        return {}
    try:
        return cpuinfo.get_cpu_info()
    except Exception:  # noqa: BLE001 - a machine py-cpuinfo cannot read gets "unknown" fields
        return {}


def _read_cpuinfo_text(path: Path = CPUINFO) -> str:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return ""


def cpu_facts(info: dict | None = None, cpuinfo_text: str | None = None) -> dict:
    """Vendor, brand, flags (py-cpuinfo's ``get_cpu_info()`` dict) and family/model/stepping
    (:func:`read_cpu_ids`); both sources can be given, for tests, or are read from this machine."""
    info = _py_cpuinfo() if info is None else info
    ids = read_cpu_ids(_read_cpuinfo_text() if cpuinfo_text is None else cpuinfo_text)
    for key in ids:  # py-cpuinfo's CPUID answer where /proc/cpuinfo has none (not Linux)
        if ids[key] is None and isinstance(info.get(key), int) and info[key] >= 0:
            ids[key] = info[key]
    flags = sorted({str(f).lower() for f in info.get("flags") or ()})
    return {
        "vendor": info.get("vendor_id_raw") or info.get("hardware_raw") or None,
        "brand": (info.get("brand_raw") or "").strip() or None,
        "family": ids["family"], "model": ids["model"], "stepping": ids["stepping"],
        "arch": info.get("arch_string_raw") or platform.machine(),
        "flags": flags,
    }


def cpu_flags() -> list[str]:
    """This machine's CPU flags (lower case, as /proc/cpuinfo writes them)."""
    return cpu_facts()["flags"]


def package_versions(names=PACKAGES) -> dict[str, str | None]:
    return common_package_versions(names)


def _git(*args: str) -> str | None:
    try:
        done = subprocess.run(["git", "-C", str(REPO_ROOT), *args], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout if done.returncode == 0 else None


def git_state() -> dict:
    """``{"commit", "dirty"}`` of the toolkit's checkout; both ``None`` outside a git checkout.
    Dirty means changed tracked files outside ``results/``: measurements written there (a
    command's ``--json``) leave the code that made the next one clean. (``publish`` also
    rewrites README and docs tables, which count as changes.)"""
    commit = _git("rev-parse", "HEAD")
    if commit is None:
        return {"commit": None, "dirty": None}
    status = _git("status", "--porcelain", "--untracked-files=no", "--", ".", ":(exclude)results")
    return {"commit": commit.strip(), "dirty": None if status is None else bool(status.strip())}


def memory_bytes() -> int | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def usable_cpus() -> int | None:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count()


def _iso(timestamp: float | None) -> str | None:
    if timestamp is None:
        return None
    return datetime.datetime.fromtimestamp(timestamp, datetime.timezone.utc).isoformat(timespec="seconds")


def machine_info(cpu: dict | None = None, int8: dict | None = None) -> dict:
    """The machine part of the fingerprint (no run facts); ``cpu`` as :func:`cpu_facts` returns;
    ``int8``: :func:`examples.quantization.cpu_caps.detect`'s verdict as a dict (cpu_caps reads
    its flags from this module, so this module does not import it)."""
    cpu = cpu_facts() if cpu is None else cpu
    memory = memory_bytes()
    info = {
        "cpu_vendor": cpu["vendor"],
        "cpu_model": cpu["brand"] or platform.processor() or platform.machine(),
        "cpu_family": cpu["family"], "cpu_model_number": cpu["model"], "cpu_stepping": cpu["stepping"],
        "isa": isa_names(cpu["flags"]),
        "isa_class": isa_class(cpu["flags"]),
        "int8": int8,
        "logical_cpus": os.cpu_count(),
        "usable_cpus": usable_cpus(),
        "memory_bytes": memory,
        "memory_gib": None if memory is None else round(memory / 2**30),
        "arch": cpu["arch"],
        "os": f"{platform.system()} {platform.release()}",
        "os_system": platform.system(),
        "kernel": platform.release(),
        "python": platform.python_version(),
    }
    info["id"] = machine_id(info)
    return info


def fingerprint(argv: list[str] | None = None, started: float | None = None, ended: float | None = None,
                threads: list[int] | None = None, int8: dict | None = None, cpu: dict | None = None) -> dict:
    """The ``machine`` object of a result file: :func:`machine_info` plus what ran and when.

    ``argv``: the command line (default ``sys.argv``); ``started``/``ended``: ``time.time()``
    values; ``threads``: the thread counts the run used; ``int8``: see :func:`machine_info`.
    """
    info = machine_info(cpu, int8)
    info.update(
        threads_used=list(threads) if threads is not None else None,
        packages=package_versions(),
        git=git_state(),
        command=portable_command(list(sys.argv if argv is None else argv)),
        started=_iso(started), ended=_iso(ended),
    )
    return info


def portable_command(argv: list[str]) -> list[str]:
    """The command line with no machine paths, for result files: a path inside the checkout
    relative to it (reproducible anywhere), any other absolute path (a scratch folder, a program
    elsewhere) its file name alone, also as a ``--flag=PATH`` value."""
    prefix = str(REPO_ROOT) + os.sep

    def portable(path: str) -> str:
        if path.startswith(prefix):
            return path[len(prefix):]
        if path.startswith(os.sep):
            return os.path.basename(path.rstrip(os.sep)) or path
        return path

    def portable_arg(arg: str) -> str:
        flag, equals, value = arg.partition("=") if arg.startswith("--") else ("", "", arg)
        return flag + equals + portable(value)

    return [portable_arg(arg) if isinstance(arg, str) else arg for arg in argv]


def machine_id(info: dict) -> str:
    """A short hash of the identity fields: equal ids, same machine (timings comparable)."""
    identity = {key: info.get(key) for key in IDENTITY_KEYS}
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:12]


def describe(info: dict) -> str:
    """One line naming the machine, for tables and plot titles."""
    ids = "/".join("?" if info.get(k) is None else str(info[k])
                   for k in ("cpu_family", "cpu_model_number", "cpu_stepping"))
    cpus = info.get("usable_cpus") or info.get("logical_cpus")
    memory = f", {info['memory_gib']} GiB" if info.get("memory_gib") else ""
    return f"{info.get('cpu_model') or 'unknown CPU'} (family/model/stepping {ids}, {info.get('isa_class', 'ISA ?')}), {cpus} CPUs{memory}"


def plot_title(what: str, machine: dict, date: str) -> str:
    """``what`` on the machine, on the date: every benchmark plot names both."""
    return f"{what}\n{describe(machine)}, {date}"
