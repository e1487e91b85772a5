"""The flags every token-generation command line shares (the stand-in runner, the peer runners:
llama.cpp, OpenVINO GenAI, ONNX Runtime GenAI; ``generate``), defined and checked in one place."""

from __future__ import annotations

from absl import flags

from examples.common import cli
from examples.generation.token_ids import parse_token_list


def define_sampling_flags(max_new_tokens: int, threads_help: str) -> None:
    flags.DEFINE_integer("max_new_tokens", max_new_tokens, "Tokens to generate at most.")
    flags.DEFINE_float("temperature", 0.0, "0: greedy; above 0: sample from softmax(logits / T).")
    flags.DEFINE_float("top_p", 1.0, "Nucleus sampling: keep the smallest set of tokens reaching this probability.")
    flags.DEFINE_integer("seed", 0, "Sampling seed.")
    flags.DEFINE_integer("num_threads", 1, threads_help)


def check_sampling_flags(flag_values) -> None:
    """One ``error:`` line (exit 2) for a value no run could use; a warning for sampling flags
    given to greedy decoding (``--temperature 0``), which reads neither."""
    if flag_values.max_new_tokens < 1:
        raise cli.UsageError(f"--max_new_tokens must be at least 1, got {flag_values.max_new_tokens}")
    if flag_values.temperature < 0:
        raise cli.UsageError(f"--temperature must be >= 0, got {flag_values.temperature}")
    if not 0 < flag_values.top_p <= 1:
        raise cli.UsageError(f"--top_p must be in (0, 1], got {flag_values.top_p}")
    if flag_values.num_threads < 1:
        raise cli.UsageError(f"--num_threads must be at least 1, got {flag_values.num_threads}")
    unused = cli.given_flags(flag_values, ("top_p", "seed"))
    if flag_values.temperature == 0 and unused:
        cli.warning_line(f"greedy decoding (--temperature 0) ignores {' and '.join(unused)}")


def define_peer_runner_flags(model_help: str, threads_help: str) -> None:
    """A peer runner's command line: the same flags and defaults as ``token_runner``'s."""
    flags.DEFINE_string("model_path", None, model_help)
    flags.DEFINE_string("prompt_tokens", None, "Comma-separated prompt token ids.")
    define_sampling_flags(32, threads_help)
    flags.DEFINE_string("stop_tokens", "", "Comma-separated token ids that end generation (kept in the output).")
    flags.DEFINE_bool("json", False, "Print one JSON object.")
    flags.DEFINE_bool("verbose", False, "Tracebacks of unexpected errors (and the engine's own log, where it has one).")


def checked_peer_request(flag_values, argv, model_error: str | None) -> tuple[list[int], list[int]]:
    """``(prompt, stop)`` token ids of a peer runner's command line, checked in the order every
    runner reports them: stray arguments, the model (``model_error``: the runner's own finding,
    None when the model is there), the prompt, the sampling values."""
    if len(argv) > 1:
        raise cli.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    if model_error:
        raise cli.UsageError(model_error)
    prompt = parse_token_list(flag_values.prompt_tokens or "", "--prompt_tokens")
    if not prompt:
        raise cli.UsageError("--prompt_tokens is required (comma-separated token ids)")
    check_sampling_flags(flag_values)
    return prompt, parse_token_list(flag_values.stop_tokens, "--stop_tokens")


def gguf_model_error(model_path: str | None) -> str | None:
    from pathlib import Path

    if not model_path:
        return "--model_path is required"
    return None if Path(model_path).is_file() else f"model file not found: {model_path}"


def probe_model_and_threads(argv, model_name: str, threads: list[str]):
    """A probe command's zoo language model and thread counts (``--model``, ``--threads``), each
    refused in one line where it is not one; stray arguments likewise."""
    from examples.common import cli
    from examples.models.llama_zoo import LLM_MODELS

    if len(argv) > 1:
        raise cli.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    if model_name not in LLM_MODELS:
        raise cli.UsageError(f"unknown model {model_name!r}; language models: {', '.join(LLM_MODELS)}")
    return LLM_MODELS[model_name], cli.positive_int_list(",".join(threads), "threads")

