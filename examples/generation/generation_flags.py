"""The sampling flags every token-generation command line shares (the stand-in runner, the
llama.cpp runner, ``generate``), defined and checked in one place."""

from __future__ import annotations

from absl import flags

from examples.common import cli


def define_sampling_flags(max_new_tokens: int, threads_help: str) -> None:
    flags.DEFINE_integer("max_new_tokens", max_new_tokens, "Tokens to generate at most.")
    flags.DEFINE_float("temperature", 0.0, "0: greedy; above 0: sample from softmax(logits / T).")
    flags.DEFINE_float("top_p", 1.0, "Nucleus sampling: keep the smallest set of tokens reaching this probability.")
    flags.DEFINE_integer("seed", 0, "Sampling seed.")
    flags.DEFINE_integer("num_threads", 1, threads_help)


def check_sampling_flags(flag_values) -> None:
    """One ``error:`` line (exit 2) for a value no run could use."""
    if flag_values.max_new_tokens < 1:
        raise cli.UsageError(f"--max_new_tokens must be at least 1, got {flag_values.max_new_tokens}")
    if flag_values.temperature < 0:
        raise cli.UsageError(f"--temperature must be >= 0, got {flag_values.temperature}")
    if not 0 < flag_values.top_p <= 1:
        raise cli.UsageError(f"--top_p must be in (0, 1], got {flag_values.top_p}")
    if flag_values.num_threads < 1:
        raise cli.UsageError(f"--num_threads must be at least 1, got {flag_values.num_threads}")
