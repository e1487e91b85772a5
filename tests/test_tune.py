"""tune: candidates built once, accuracy budget enforced with reasons, winners per thread count,
outputs written; the choice logic on made-up measurements; bad input as one line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from examples.tune.candidates import Candidate
from examples.tune.tuner import CandidateResult, pick_winners


def _result(name: str, medians: dict[int, float], size: int = 100, rss: int = 10) -> CandidateResult:
    r = CandidateResult(Candidate(name, "xnnpack", "fp32", name), status="accepted", size_bytes=size)
    for t, m in medians.items():
        r.runs[t] = [{"median_ms": m, "p90_ms": m, "first_result_ms": 10 * m, "peak_rss_bytes": rss,
                      "samples_ms": [m]}]
    return r


def test_winner_per_thread_count_and_reasons():
    a = _result("a", {1: 2.0, 2: 1.5})
    b = _result("b", {1: 3.0, 2: 1.0})
    rejected = CandidateResult(Candidate("c", "xnnpack", "int8", "c"), status="rejected", reason="SQNR 3 dB")
    winners = pick_winners([a, b, rejected], [1, 2], "latency")
    assert winners == {1: a, 2: b}
    assert a.status == b.status == "winner" and "1 thread" in a.reason and "2 thread" in b.reason
    assert rejected.status == "rejected" and rejected.reason == "SQNR 3 dB"


def test_objectives_change_the_winner():
    fast_big = _result("fast_big", {1: 1.0}, size=1000, rss=500)
    slow_small = _result("slow_small", {1: 2.0}, size=10, rss=50)
    assert pick_winners([fast_big, slow_small], [1], "size")[1] is slow_small
    fast_big.status = slow_small.status = "accepted"
    assert pick_winners([fast_big, slow_small], [1], "memory")[1] is slow_small
    fast_big.status = slow_small.status = "accepted"
    winner = pick_winners([fast_big, slow_small], [1], "latency")[1]
    assert winner is fast_big and slow_small.status == "slower" and "fast_big" in slow_small.reason


def _rounds(name: str, per_round_ms: list[float], seed: int = 0) -> CandidateResult:
    """A candidate timed at 1 thread: each round 5 samples around that round's median."""
    import numpy as np

    rng = np.random.default_rng(seed)
    r = CandidateResult(Candidate(name, "xnnpack", "int8", name), status="accepted", size_bytes=100)
    r.runs[1] = [{"median_ms": m, "p90_ms": m, "first_result_ms": m, "peak_rss_bytes": 1,
                  "samples_ms": list(m * (1 + rng.uniform(-0.002, 0.002, 5)))} for m in per_round_ms]
    return r


def _decide(results, twin=None, threads=(1,)):
    from examples.tune.tuner import decide

    return decide(results, list(threads), "latency", twin)


def test_a_winner_replaces_the_default_program_only_when_proven_faster():
    default = _rounds("xnnpack_fp32", [2.0] * 10)
    proven = _rounds("q8_a", [1.5] * 10, seed=1)
    winners, verdicts = _decide([default, proven])
    assert winners[1] is proven and verdicts["1"]["verdict"] == "faster" and proven.status == "winner"
    # Fastest on the choosing (even) rounds only: the default program stays.
    default = _rounds("xnnpack_fp32", [2.0] * 10)
    lucky = _rounds("q8_b", [1.5 if i % 2 == 0 else 2.3 for i in range(10)], seed=2)
    winners, verdicts = _decide([default, lucky])
    assert winners[1] is default and default.status == "winner" and "1T: kept" in default.reason
    assert lucky.status == "unproven" and verdicts["1"]["kept_default"] and verdicts["1"]["challenger"] == "q8_b"


def test_a_verdict_must_beat_the_noise_floor_of_the_default_program_timed_twice():
    default = _rounds("xnnpack_fp32", [2.0] * 10)
    slightly = _rounds("q8_a", [1.94] * 10, seed=3)  # 3 % faster in every round
    assert _decide([default, slightly])[0][1] is slightly
    default, slightly = _rounds("xnnpack_fp32", [2.0] * 10), _rounds("q8_a", [1.94] * 10, seed=3)
    twin = _rounds("xnnpack_fp32 (A/A)", [2.0 * (1.06 if i % 2 else 1.0) for i in range(10)], seed=4)
    winners, verdicts = _decide([default, slightly], twin)
    assert winners[1] is default and verdicts["1"]["noise_floor"] > 0.05


def _two_counts(name: str, one: list[float], two: list[float], seed: int) -> CandidateResult:
    r = _rounds(name, one, seed)
    r.runs[2] = _rounds(name, two, seed + 100).runs[1]
    return r


def test_proven_at_one_thread_count_kept_at_the_other_and_said_per_count():
    from examples.tune.report import _verdict_text

    default = _two_counts("xnnpack_fp32", [2.0] * 10, [1.0] * 10, 0)
    q8 = _two_counts("q8_a", [1.5] * 10, [0.8 if i % 2 == 0 else 1.1 for i in range(10)], 1)
    winners, verdicts = _decide([default, q8], threads=(1, 2))
    assert winners == {1: q8, 2: default}
    assert q8.status == "winner" and "1T: fastest" in q8.reason and "2T:" in q8.reason and "not proven" in q8.reason
    assert default.status == "winner" and "2T: kept" in default.reason and "1T: 2 ms vs 1.5 ms" in default.reason
    assert "kept: q8_a was fastest on the choosing rounds" in _verdict_text(verdicts["2"])


def test_nothing_is_written_where_the_default_program_was_not_timed():
    default = _rounds("xnnpack_fp32", [2.0] * 10)
    q8 = _two_counts("q8_a", [1.5] * 10, [0.7] * 10, 1)
    winners, verdicts = _decide([default, q8], threads=(1, 2))
    assert winners == {1: q8} and "not timed here" in verdicts["2"]["verdict"]


def test_the_default_program_is_xnnpack_fp32_wherever_it_is_listed():
    from examples.tune.tuner import default_program

    results = [_rounds(name, [1.0]) for name in ("openvino_fp32", "xnnpack_fp32", "q8_a")]
    assert default_program(results) is results[1]
    assert default_program(results[::2]) is results[0]  # without XNNPACK: the first candidate


def test_the_floor_uses_the_judging_rounds_only():
    default, slightly = _rounds("xnnpack_fp32", [2.0] * 10), _rounds("q8_a", [1.94] * 10, seed=3)
    twin = _rounds("xnnpack_fp32 (A/A)", [2.0 * (1.2 if i % 2 == 0 else 1.0) for i in range(10)], seed=4)
    winners, verdicts = _decide([default, slightly], twin)
    assert winners[1] is slightly and verdicts["1"]["noise_floor"] < 0.01


def test_other_objectives_write_their_choice():
    default = _rounds("xnnpack_fp32", [2.0] * 10)
    small = _rounds("q8_a", [2.1] * 10, seed=5)
    small.size_bytes = 10
    from examples.tune.tuner import decide

    winners, _ = decide([default, small], [1], "size", None)
    assert winners[1] is small
    # Time to first result is chosen on the even rounds too (over all rounds the default is lower).
    quick = _rounds("q8_b", [2.0] * 10, seed=6)
    for i, run in enumerate(quick.runs[1]):
        run["first_result_ms"] = 1.0 if i % 2 == 0 else 100.0
    default = _rounds("xnnpack_fp32", [2.0] * 10)
    for run in default.runs[1]:
        run["first_result_ms"] = 10.0
    assert decide([default, quick], [1], "first_result", None)[0][1] is quick


def test_byte_identical_programs_are_one_candidate(tmp_path):
    from examples.tune.tuner import mark_duplicates

    results = []
    for name, data in (("xnnpack_fp32", b"A"), ("q8_per_channel", b"B"), ("q8_per_channel_dw_fp32", b"B")):
        (tmp_path / name).write_bytes(data)
        results.append(CandidateResult(Candidate(name, "xnnpack", "int8", name), status="built",
                                       program=tmp_path / name))
    mark_duplicates(results)
    assert [r.status for r in results] == ["built", "built", "duplicate"]
    assert results[2].reason == "the same program as q8_per_channel"


@pytest.mark.slow
def test_tune_toy_model_end_to_end(tmp_path):
    from examples.benchmark.programs import load_model_context
    from examples.runner import client
    from examples.tune.candidates import xnnpack_candidates
    from examples.tune.report import write_outputs
    from examples.tune.tuner import TuneSettings, tune

    settings = TuneSettings(model="linear", threads=[1, 2], output_dir=tmp_path / "out",
                            runner_path=client.find_runner(), cache_dir=tmp_path / "cache", weights="random",
                            warmup=1, iterations=3, rounds=2, min_sqnr_db=30.0)
    candidates = [c for c in xnnpack_candidates() if c.recipe in (None, "dynamic_per_channel", "static_per_tensor")]
    ctx = load_model_context("linear", "random", tmp_path)
    doc, winners = tune(settings, candidates, ctx)
    by_name = {c["name"]: c for c in doc["candidates"]}
    assert by_name["xnnpack_fp32"]["sqnr_db"] is None or by_name["xnnpack_fp32"]["sqnr_db"] > 60
    for c in doc["candidates"]:
        assert c["status"] in ("winner", "slower", "unproven", "rejected", "failed", "duplicate"), c
        assert c["reason"]
        if c["status"] == "rejected":
            assert "SQNR" in c["reason"] and c["sqnr_db"] < 30.0
        if c["status"] in ("winner", "slower"):
            assert set(c["times"]) == {"1", "2"}
            assert all(len(t["rounds_samples_ms"]) == 2 for t in c["times"].values())
    assert set(doc["winners"]) == {"1", "2"}
    assert doc["aa"]["status"] == "A/A" and all(len(t["rounds_samples_ms"]) == 2 for t in doc["aa"]["times"].values())
    paths = write_outputs(doc, winners, settings.output_dir, "linear")
    out = settings.output_dir
    assert (out / "linear_tuned_t1.pte").read_bytes() == (out / "linear_tuned.pte").read_bytes()
    assert (out / "linear_tuned_t2.pte").is_file() and out / "tune.md" in paths
    assert json.loads((out / "tune.json").read_text())["winners"] == doc["winners"]
    # The tuned program runs and answers exactly as the winning candidate's program (for 1 thread) does.
    import numpy as np
    import torch

    inputs = client.write_input_files([torch.randn(4, 32, generator=torch.Generator().manual_seed(0))],
                                      tmp_path / "in")
    answers = {}
    for name, program in (("tuned", out / "linear_tuned.pte"), ("candidate", Path(winners[min(winners)].program))):
        done = client.run_bounded(client.find_runner(), program, inputs=inputs, output_path=tmp_path / name,
                                  verify="require")
        assert done.returncode == 0, done.stderr
        answers[name] = client.read_output_files(tmp_path / name)[0]
    assert answers["tuned"].shape == (4, 16) and np.array_equal(answers["tuned"], answers["candidate"])


@pytest.mark.parametrize("args, message", [
    (["--model_name", "nope"], "unknown model 'nope'"),
    (["--model_name", "linear", "--threads", "0"], "--threads must list integers >= 1"),
    (["--model_name", "linear", "--delegates", "tpu"], "--delegates: unknown tpu"),
    (["--model_name", "linear", "--max_top1_drop", "-1"], "--max_top1_drop must be >= 0"),
    ([], "--model_name is required"),
    # a language model (examples/tune/generation_tuner.py)
    (["--model_name", "stories15m", "--variants", "8da4w,Q4_0"], "--variants: unknown Q4_0"),
    (["--model_name", "stories15m", "--variants", "8da4w-4k"], "--variants: unknown 8da4w-4k"),
    (["--model_name", "stories15m", "--eval_data", "."], "--eval_data does not apply to a language model (stories15m)"),
    (["--model_name", "stories15m", "--runner", "x", "--num_iters", "3"],
     "--num_iters, --runner do not apply to a language model"),
    (["--model_name", "stories15m", "--prompt_len", "100", "--max_new_tokens", "100"],
     "--prompt_len + --max_new_tokens exceeds --max_seq_len"),
    (["--model_name", "stories15m", "--max_new_tokens", "1"], "--max_new_tokens must be at least 2"),
    (["--model_name", "stories15m", "--max_seq_len", "16", "--prompt_len", "4", "--max_new_tokens", "4"],
     "--max_seq_len must exceed"),
    (["--model_name", "stories15m", "--max_sqnr_loss_db", "-1"], "--max_sqnr_loss_db must be >= 0 dB"),
    (["--model_name", "stories15m", "--rounds", "0"], "--rounds must be at least 1"),
    (["--model_name", "stories15m", "--weights", "/nonexistent.pth"], "--weights: no such checkpoint file"),
    (["--model_name", "llama3_2_1b"], "llama3_2_1b is offered only with its checkpoint"),
    (["--model_name", "linear", "--variants", "8da4w"], "--variants does not apply to linear: they are for the zoo's"),
])
def test_bad_input_is_one_line(args, message, tmp_path, python_env, repo_root):
    done = subprocess.run([sys.executable, "-m", "examples.backend.tune", "--output_dir", str(tmp_path), *args],
                          capture_output=True, text=True, cwd=repo_root, env=python_env, timeout=120)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and message in lines[0], done.stderr


def test_eval_flags_without_eval_data_are_ignored_with_a_warning(tmp_path, python_env, repo_root):
    """--eval_limit and --max_top1_drop only judge candidates on --eval_data: without it, a warning each
    (before the first bad flag after them fails the run)."""
    done = subprocess.run([sys.executable, "-m", "examples.backend.tune", "--output_dir", str(tmp_path),
                           "--model_name", "linear", "--eval_limit", "5", "--max_top1_drop", "2", "--threads", "0"],
                          capture_output=True, text=True, cwd=repo_root, env=python_env, timeout=120)
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines() == [
        "warning: --max_top1_drop is only used with --eval_data; ignored",
        "warning: --eval_limit is only used with --eval_data; ignored",
        "error: --threads must list integers >= 1, got '0'"]
