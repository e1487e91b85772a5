"""llama.cpp on token ids, the peer of ``token_runner`` / ``text_generation_runner``: same flags,
same JSON keys (``runner: llama.cpp``), same flow (the prompt in one ``eval``, then one token
per ``eval``, greedy or temperature/top-p sampling from the returned logits).

    python -m examples.generation.llama_cpp_runner --model_path stories15m_Q8_0.gguf \\
        --prompt_tokens 1,15,27 --max_new_tokens 32 --num_threads 2 --json

Needs ``llama-cpp-python`` (``pip install .[compare-llm]``; it builds llama.cpp from source).
Run as its own process so its peak RSS is llama.cpp's alone.
"""

from __future__ import annotations

import json
import sys
import time

from absl import flags

from examples.common import cli
from examples.common.machine import cpu_flags
from examples.generation.generation_flags import checked_peer_request, define_peer_runner_flags, gguf_model_error

RUNNER_LABEL = "llama.cpp"

define_peer_runner_flags("The .gguf file (examples.generation.gguf_export writes one).",
                         "llama.cpp threads (prefill and decode).")
flags.DEFINE_integer("context_length", 0, "KV cache length; 0: prompt + max_new_tokens.")
flags.DEFINE_string("extra_buffers", "auto", "llama.cpp's extra weight buffer types (AMX, CPU repack): on, off, or "
                    "auto (off on CPUs with AMX, where llama.cpp's AMX matmul crashes in decode: ggml-org/llama.cpp "
                    "issue 20824; on elsewhere).")

FLAGS = flags.FLAGS


def cpu_has_amx() -> bool:
    return "amx_int8" in cpu_flags()


def use_plain_buffers() -> None:
    """Every ``Llama`` built after this keeps its weights in plain CPU buffers (model parameter
    ``use_extra_bufts`` off: no AMX or repacked copies); llama-cpp-python has no argument for it."""
    import llama_cpp.llama as module

    default = module.llama_cpp.llama_model_default_params

    def params():
        value = default()
        value.use_extra_bufts = False
        return value

    module.llama_cpp.llama_model_default_params = params


def main(argv):
    prompt, stop = checked_peer_request(FLAGS, argv, gguf_model_error(FLAGS.model_path))
    if FLAGS.extra_buffers not in ("auto", "on", "off"):
        raise cli.UsageError(f"--extra_buffers must be auto, on or off, got {FLAGS.extra_buffers}")
    try:
        from llama_cpp import Llama
    except ImportError:
        raise cli.CliError("llama-cpp-python is not installed: pip install '.[compare-llm]'") from None
    from examples.generation.decoder import GenerationResult, current_rss_bytes, peak_rss_bytes
    from examples.generation.sampling import Sampler

    extra_buffers = FLAGS.extra_buffers == "on" or (FLAGS.extra_buffers == "auto" and not cpu_has_amx())
    if not extra_buffers:
        use_plain_buffers()
    baseline = current_rss_bytes()
    start = time.perf_counter()
    try:
        # n_batch = the context: the prompt is one batch, and llama-cpp-python's eval indexes an
        # n_batch-row array at row n_past + n_tokens - 1.
        n_ctx = FLAGS.context_length or len(prompt) + FLAGS.max_new_tokens
        llm = Llama(model_path=FLAGS.model_path, n_ctx=n_ctx,
                    n_batch=n_ctx, n_threads=FLAGS.num_threads, n_threads_batch=FLAGS.num_threads,
                    seed=FLAGS.seed, logits_all=False, verbose=FLAGS.verbose)
    except Exception as error:  # noqa: BLE001 - llama.cpp raises ValueError/RuntimeError for bad files
        raise cli.CliError(f"llama.cpp cannot load {FLAGS.model_path}: {cli.first_line(error)}") from None
    vocab = llm.n_vocab()
    bad = [t for t in prompt if not 0 <= t < vocab]
    if bad:
        raise cli.UsageError(f"prompt token {bad[0]} is outside the vocabulary (0..{vocab - 1})")
    result = GenerationResult(prompt_tokens=prompt, load_s=time.perf_counter() - start, baseline_rss_bytes=baseline)
    sample = Sampler(FLAGS.temperature, FLAGS.top_p, FLAGS.seed)

    import llama_cpp
    import numpy as np

    def last_logits():
        # The last evaluated token's logits, read from llama.cpp itself: with logits_all off,
        # llama-cpp-python 0.3.36 leaves its own `scores` array zero (every token would be 0).
        pointer = llama_cpp.llama_get_logits_ith(llm._ctx.ctx, -1)
        return np.ctypeslib.as_array(pointer, shape=(vocab,)).copy()

    begin = time.perf_counter()
    llm.eval(prompt)
    result.prefill_s = time.perf_counter() - begin
    token = sample(last_logits())
    result.ttft_s = time.perf_counter() - begin
    result.tokens.append(token)
    decode_start = time.perf_counter()
    while len(result.tokens) < FLAGS.max_new_tokens and token not in stop:
        llm.eval([token])
        token = sample(last_logits())
        result.tokens.append(token)
    result.decode_s = time.perf_counter() - decode_start
    result.stop_reason = "stop_token" if token in stop else "max_new_tokens"
    result.peak_rss_bytes = peak_rss_bytes()
    report = {"runner": RUNNER_LABEL, "model_path": FLAGS.model_path, "num_threads": FLAGS.num_threads,
              "extra_buffers": extra_buffers, **result.as_json()}
    print(json.dumps(report) if FLAGS.json else "\n".join(f"{k}: {v}" for k, v in report.items()))
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    cli.run(main)
