"""Machine facts: the family/model/stepping reader, ISA classes, the fingerprint and its id,
and cpu_caps reading its flags through examples.common.machine."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from examples.common import machine
from examples.quantization import cpu_caps

REPO_ROOT = Path(__file__).resolve().parents[1]

ZEN2_CPUINFO = """processor\t: 0
vendor_id\t: AuthenticAMD
cpu family\t: 23
model\t\t: 49
model name\t: AMD EPYC
stepping\t: 0
flags\t\t: fpu sse2 avx fma avx2

processor\t: 1
vendor_id\t: AuthenticAMD
cpu family\t: 99
model\t\t: 99
stepping\t: 9
"""
GRAVITON2_CPUINFO = "processor\t: 0\nFeatures\t: fp asimd asimddp\nCPU architecture: 8\nCPU variant\t: 0x3\nCPU part\t: 0xd0c\n"
# What py-cpuinfo 9 returns on that Zen 2: a stepping of 0 is dropped as "empty".
ZEN2_PY_CPUINFO = {"vendor_id_raw": "AuthenticAMD", "brand_raw": "AMD EPYC", "family": 23, "model": 49,
                   "arch_string_raw": "x86_64", "flags": ["avx", "avx2", "fma", "fpu", "sse2"]}


def test_reader_keeps_stepping_zero_and_reads_the_first_processor_only():
    assert machine.read_cpu_ids(ZEN2_CPUINFO) == {"family": 23, "model": 49, "stepping": 0}
    assert machine.read_cpu_ids(GRAVITON2_CPUINFO) == {"family": 8, "model": 0xD0C, "stepping": 3}
    assert machine.read_cpu_ids("") == {"family": None, "model": None, "stepping": None}


def test_cpu_facts_combine_py_cpuinfo_and_the_reader():
    facts = machine.cpu_facts(ZEN2_PY_CPUINFO, ZEN2_CPUINFO)
    assert facts == {"vendor": "AuthenticAMD", "brand": "AMD EPYC", "family": 23, "model": 49, "stepping": 0,
                     "arch": "x86_64", "flags": ["avx", "avx2", "fma", "fpu", "sse2"]}
    no_proc = machine.cpu_facts(ZEN2_PY_CPUINFO, "")  # not Linux: py-cpuinfo's CPUID answer
    assert (no_proc["family"], no_proc["model"], no_proc["stepping"]) == (23, 49, None)
    empty = machine.cpu_facts({}, "")
    assert empty["flags"] == [] and empty["vendor"] is None


def test_py_cpuinfo_is_asked_once_per_boot_and_cpu(tmp_path, monkeypatch, request):
    """py-cpuinfo's answer (1 s each time) is kept on disk for this boot and /proc/cpuinfo; a
    reboot or another CPU asks again (and replaces the old answer); an unreadable entry is
    asked again; without a boot id (not Linux) nothing is kept."""
    asked = []
    request.addfinalizer(machine._py_cpuinfo.cache_clear)  # later tests ask the real machine
    monkeypatch.setattr(machine, "_ask_py_cpuinfo", lambda: asked.append(1) or dict(ZEN2_PY_CPUINFO))
    monkeypatch.setattr(machine, "CPUINFO_CACHE", tmp_path / "cache")
    monkeypatch.setattr(machine, "BOOT_ID", tmp_path / "boot_id")
    cpuinfo_text = ZEN2_CPUINFO + "cpu MHz\t\t: 2000.0\n"
    monkeypatch.setattr(machine, "_read_cpuinfo_text", lambda: cpuinfo_text)

    def facts():
        machine._py_cpuinfo.cache_clear()  # a new command: only the disk remembers
        return machine.cpu_facts()

    (tmp_path / "boot_id").write_text("boot-1\n")
    assert facts()["brand"] == "AMD EPYC" and len(asked) == 1
    cpuinfo_text = ZEN2_CPUINFO + "cpu MHz\t\t: 3100.5\n"  # the clock line moves: same CPU
    assert facts()["brand"] == "AMD EPYC" and len(asked) == 1
    (tmp_path / "boot_id").write_text("boot-2\n")
    assert facts()["brand"] == "AMD EPYC" and len(asked) == 2
    cpuinfo_text = ZEN2_CPUINFO.replace("model\t\t: 49", "model\t\t: 50", 1)
    facts()
    assert len(asked) == 3 and len(entries := list((tmp_path / "cache").iterdir())) == 1
    entries[0].write_text("null")
    assert facts()["brand"] == "AMD EPYC" and len(asked) == 4
    assert facts()["brand"] == "AMD EPYC" and len(asked) == 4
    (tmp_path / "boot_id").unlink()
    facts(), facts()
    assert len(asked) == 6 and len(list((tmp_path / "cache").iterdir())) == 1


def test_isa_class_and_names():
    assert machine.isa_class(["avx2", "fma"]) == "AVX2"
    assert machine.isa_class(["avx2", "avx512f", "avx512bw", "avx512_vnni"]) == "AVX-512 VNNI"
    assert machine.isa_class(["avx512_vnni", "avx512_bf16", "amx_int8"]) == "AMX"
    assert machine.isa_class(["asimd", "asimddp"]) == "Arm dotprod"
    assert machine.isa_class(["sse2"]) == "other"
    assert machine.isa_names(["avx2", "avx_vnni", "sse2"]) == ["AVX2", "AVX-VNNI"]


def test_machine_id_tells_zen3_from_zen4_and_ignores_run_facts():
    zen3 = {**ZEN2_PY_CPUINFO, "family": 25, "model": 1, "brand_raw": "AMD EPYC"}
    zen4 = {**zen3, "model": 17}
    a = machine.machine_info(machine.cpu_facts(zen3, ""))
    b = machine.machine_info(machine.cpu_facts(zen4, ""))
    assert a["cpu_model"] == b["cpu_model"] == "AMD EPYC" and a["id"] != b["id"]
    again = machine.fingerprint(["x"], cpu=machine.cpu_facts(zen3, ""))
    assert again["id"] == a["id"]
    assert machine.machine_id(dict(again, packages={"torch": "0"}, kernel="other")) == a["id"]


def test_the_recorded_command_names_no_machine_path():
    """Result files are committed: a path in the checkout is kept relative to it, any other
    absolute path (a scratch folder, a program elsewhere) by its file name alone."""
    argv = [str(REPO_ROOT / "examples/backend/step_profile.py"), "--model_path", "/scratch/run/m.pte",
            "--json=/scratch/run/out.json", "--output_dir", "/scratch/run/", f"--model={REPO_ROOT}/m.pte", "--rounds", "3"]
    assert machine.portable_command(argv) == ["examples/backend/step_profile.py", "--model_path", "m.pte",
                                              "--json=out.json", "--output_dir", "run", "--model=m.pte", "--rounds", "3"]


def test_fingerprint_of_this_machine():
    started = time.time()
    fp = machine.fingerprint([str(REPO_ROOT / "examples/backend/benchmark.py"), "--models", "mv2"], started, started + 2,
                             threads=[1, 2], int8=cpu_caps.detect().as_dict())
    assert fp["command"] == ["examples/backend/benchmark.py", "--models", "mv2"]
    assert fp["started"].endswith("+00:00") and fp["started"] < fp["ended"]
    assert fp["threads_used"] == [1, 2] and fp["logical_cpus"] >= 1 and fp["memory_bytes"] > 0
    assert fp["cpu_vendor"] and fp["isa_class"] and fp["python"] and fp["kernel"]
    assert fp["packages"]["executorch"] and fp["int8"]["int8_level"]
    assert len(fp["git"]["commit"]) == 40 and isinstance(fp["git"]["dirty"], bool)
    assert set(machine.IDENTITY_KEYS) <= set(fp) and len(fp["id"]) == 12
    # the keys the benchmark report reads keep their version 1 meaning
    assert {"cpu_model", "isa", "int8", "logical_cpus", "usable_cpus", "arch", "os", "python"} <= set(fp)


def test_a_checkout_is_dirty_when_code_changed_not_when_results_were_published(tmp_path, monkeypatch):
    import subprocess

    def git(*args):
        subprocess.run(["git", "-C", str(tmp_path), *args], check=True, capture_output=True)

    git("init", "-q")
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "run.json").write_text("{}")
    (tmp_path / "code.py").write_text("x = 1\n")
    git("add", "-A")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "one")
    monkeypatch.setattr(machine, "REPO_ROOT", tmp_path)
    assert machine.git_state()["dirty"] is False
    (tmp_path / "results" / "run.json").write_text('{"new": 1}')  # a run published its result
    assert machine.git_state()["dirty"] is False
    (tmp_path / "code.py").write_text("x = 2\n")
    assert machine.git_state()["dirty"] is True


def test_cpu_caps_reads_flags_through_machine():
    caps = cpu_caps.detect(machine.cpu_facts(ZEN2_PY_CPUINFO, ZEN2_CPUINFO))
    assert (caps.model, caps.int8_level, caps.int8_dot_product) == ("AMD EPYC", "avx2", False)
    assert cpu_caps.detect({"flags": []}).int8_level == "unknown"
    assert cpu_caps.detect().flags == tuple(f for f in cpu_caps.REPORTED_FLAGS if f in machine.cpu_flags())
    done = subprocess.run([sys.executable, "-m", "examples.backend.cpu_caps"], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.startswith("CPU: ") and "int8 instructions" in done.stdout
