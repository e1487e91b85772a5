"""The native runner's decode attention kernels (one_row_q_at_k / one_row_qk_at_v and their int8
KV cache versions, local changes in third-party/executorch_llm_ops) checked directly: the tiny
test model's heads are 16 floats wide, so its end-to-end tests never reach the kernels' 64-float
path or most of their tails, and its int8 cache is exported only in the llm tier.
tests/native/one_row_attention_check.cpp is built with the runner (CMake target
one_row_attention_check, compiled like the kernels) and run here, as is
tests/native/per_token_int8_check.cpp for the int8 cache's per-token quantize kernels and
tests/native/greedy_token_check.cpp for the runner's greedy choice and
tests/native/slice_copy_rank5_check.cpp for its rank-5 slice_copy (the rotary embedding's split)."""

from __future__ import annotations

import subprocess

import pytest

from tests.helpers_runner import BUILD_DIR, ensure_runner


def run_check(name: str, success: str) -> None:
    """Run a native check built with the runner (brought up to date with the kernels' sources
    first) and require its exit 0 and its line of success."""
    ensure_runner(BUILD_DIR)
    done = subprocess.run([str(BUILD_DIR / name)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert success in done.stdout


@pytest.mark.slow
def test_one_row_attention_kernels_match_a_double_reference():
    """The one-row kernels, OneRowAttention and cpu_flash_attention's decode dispatch (both ways)
    against double-precision references."""
    run_check("one_row_attention_check", "cases, worst relative error")


@pytest.mark.slow
def test_per_token_int8_kernels_equal_the_wheels_bit_for_bit():
    """The int8 KV cache's choose_qparams_per_token_asymmetric / quantize_per_token
    (third-party/executorch_llm_ops, op_per_token_int8.cpp): the registry gives the runner's for
    the exporter's kernel key, and they equal the wheel's kernels (its fallback) bit for bit."""
    run_check("per_token_int8_check", "runner and wheel kernels equal bit for bit")


@pytest.mark.slow
def test_greedy_token_is_std_max_element():
    """The native runner's greedy choice (runtime/text_generation_runner/greedy.h, 16 lanes) gives
    std::max_element's index: ties to the first, NaNs, every length and lane."""
    run_check("greedy_token_check", "cases agree with std::max_element")


@pytest.mark.slow
def test_rank5_slice_copy_equals_the_wheels_bit_for_bit():
    """aten::slice_copy for contiguous float rank-5 tensors (third-party/executorch_llm_ops,
    op_slice_copy_rank5.cpp): the registry gives the runner's for the key a program's call has,
    and it equals the wheel's portable kernel over every dim, start, end and step."""
    run_check("slice_copy_rank5_check", "runner and wheel kernels equal bit for bit")
