"""The native runner's decode attention kernels (one_row_q_at_k / one_row_qk_at_v and their int8
KV cache versions, local changes in third-party/executorch_llm_ops) checked directly: the tiny
test model's heads are 16 floats wide, so its end-to-end tests never reach the kernels' 64-float
path or most of their tails, and its int8 cache is exported only in the llm tier.
tests/native/one_row_attention_check.cpp is built with the runner (CMake target
one_row_attention_check, compiled like the kernels) and run here."""

from __future__ import annotations

import subprocess

import pytest

from tests.helpers_runner import BUILD_DIR, ensure_runner


@pytest.mark.slow
def test_one_row_attention_kernels_match_a_double_reference():
    ensure_runner(BUILD_DIR)  # brings the check up to date with the kernels' sources
    done = subprocess.run([str(BUILD_DIR / "one_row_attention_check")], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "cases, worst relative error" in done.stdout
