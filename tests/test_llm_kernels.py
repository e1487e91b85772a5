"""The native runner's decode attention kernels (one_row_q_at_k / one_row_qk_at_v and their int8
KV cache versions, local changes in third-party/executorch_llm_ops) checked directly: the tiny
test model's heads are 16 floats wide, so its end-to-end tests never reach the kernels' 64-float
path or most of their tails, and its int8 cache is exported only in the llm tier.
tests/native/one_row_attention_check.cpp is built with the runner (CMake target
one_row_attention_check, compiled like the kernels) and run here, as is
tests/native/per_token_int8_check.cpp for the int8 cache's per-token quantize kernels."""

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


@pytest.mark.slow
def test_per_token_int8_kernels_equal_the_wheels_bit_for_bit():
    """The int8 KV cache's choose_qparams_per_token_asymmetric / quantize_per_token
    (third-party/executorch_llm_ops, op_per_token_int8.cpp): the registry gives the runner's for
    the exporter's kernel key, and they equal the wheel's kernels (its fallback) bit for bit."""
    ensure_runner(BUILD_DIR)
    done = subprocess.run([str(BUILD_DIR / "per_token_int8_check")], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "runner and wheel kernels equal bit for bit" in done.stdout
