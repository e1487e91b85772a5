"""What verification costs in memory: the constant segment (the allowance a verified private copy
may hold over the runtime's mmap loader) read as ExecuTorch reads it, and tools.memory_cost's
side-by-side table."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

from examples.integrity.layout import constant_segment_bytes


@pytest.mark.parametrize("variant", ["portable", "fp32"])
def test_constant_segment_is_the_runtimes_constants(programs, variant):
    """As many bytes as ExecuTorch's own deserializer finds in the program's constant buffers:
    all the weights of a portable program, next to none of a delegated one."""
    from executorch.exir._serialize._program import deserialize_pte_binary

    data = programs.get("linear", variant).read_bytes()
    program = deserialize_pte_binary(data).program
    constants = sum(len(buffer.storage) for buffer in program.constant_buffer)
    assert constant_segment_bytes(data) == constants
    if variant == "portable":
        assert constants > 1000
    assert constant_segment_bytes(b"not a program" * 10) == 0


def test_memory_cost_table(programs, tmp_path, python_env):
    from tests.helpers_runner import BUILD_DIR, FRESH_MS, ensure_runner, wait_until_not_fresh

    ensure_runner(BUILD_DIR)
    copies = []
    for variant in ("portable", "fp32"):
        source = programs.get("linear", variant)
        copy = tmp_path / f"{variant}_{source.name}"
        shutil.copyfile(source, copy)
        shutil.copyfile(source.with_name(source.name + ".json"), copy.with_name(copy.name + ".json"))
        copies.append(copy)
    wait_until_not_fresh()  # the verify cache never remembers a fresher file (window shortened below)
    out = tmp_path / "memory.json"
    done = subprocess.run([sys.executable, "-m", "tools.memory_cost", *map(str, copies), "--baseline_program",
                           str(copies[1]), "--rounds", "1", "--out", str(out)],
                          capture_output=True, text=True, env=dict(python_env, XNN_RUNNER_TEST_FRESH_MS=str(FRESH_MS)),
                          timeout=600)
    assert done.returncode == 0, done.stderr
    result = json.loads(out.read_text())
    rows = {row["program"]: row for row in result["rows"]}
    assert set(rows) == {c.name for c in copies}
    portable = rows[copies[0].name]
    assert portable["constant_segment_mib"] > 0 and portable["allowance_met"]
    assert set(result["growth_kib"][copies[0].name]) == {"mmap", "verified", "cached"}
    assert result["machine"]["cpu_family"] is not None and "verified <= mmap + constants" in done.stdout
