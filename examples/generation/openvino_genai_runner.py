"""OpenVINO GenAI on token ids, a peer of ``text_generation_runner``: same flags, same JSON keys
(``runner: openvino-genai``), reading the benchmark's own GGUF files (Q4_0, Q8_0, Q4_K_M).

    python -m examples.generation.openvino_genai_runner --model_path stories110m_Q4_0.gguf \\
        --prompt_tokens 1,15,27 --max_new_tokens 32 --num_threads 2 --json

``LLMPipeline`` builds the model from the GGUF file in memory. Its GGUF tokenizer conversion
handles only byte-level BPE (``tokenizer.ggml.model = gpt2``, with ``pre`` and merges): on the
benchmark's placeholder Llama vocabulary it fails (``map::at``). The token-id path: an empty
``Tokenizer`` (a folder with no tokenizer files, which GenAI accepts for GGUF models), token ids in
as ``TokenizedInputs``, ``GenerationConfig(max_new_tokens, ignore_eos=True)`` with the EOS id set
(generation otherwise refuses a stop id of -1), and a streamer that receives token ids and
timestamps them, so prefill, first token and decode are timed here as in the other runners.
Precisions are pinned, not left to the CPU's defaults: ``--inference_precision`` (bf16 where the
CPU has it, as OpenVINO would pick) and ``--kv_cache_precision`` (u8, OpenVINO's CPU default);
the report names both.

Needs ``openvino-genai`` (``pip install '.[llm-peers]'``, part of ``./setup.sh``). Run as its own process so its peak
RSS is OpenVINO's alone.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time

from absl import flags

from examples.common import cli
from examples.common.machine import cpu_flags
from examples.generation.generation_flags import checked_peer_request, define_peer_runner_flags, gguf_model_error

RUNNER_LABEL = "openvino-genai"
INSTALL = "pip install openvino-genai==2026.4.1 'openvino-tokenizers==2026.4.*'"

define_peer_runner_flags("The .gguf file (examples.generation.gguf_export writes one).",
                         "OpenVINO inference threads (INFERENCE_NUM_THREADS).")
flags.DEFINE_string("inference_precision", "auto", "INFERENCE_PRECISION_HINT: f32, bf16, or auto (bf16 where "
                    "the CPU has AVX-512 BF16 or AMX, else f32).")
flags.DEFINE_string("kv_cache_precision", "u8", "KV_CACHE_PRECISION: u8, f16, bf16 or f32.")

FLAGS = flags.FLAGS


def auto_precision() -> str:
    """bf16 where the CPU computes in it (what OpenVINO's CPU plugin picks there), else f32."""
    return "bf16" if set(cpu_flags()) & {"avx512_bf16", "amx_bf16"} else "f32"


def main(argv):
    prompt, stop = checked_peer_request(FLAGS, argv, gguf_model_error(FLAGS.model_path))
    precision = auto_precision() if FLAGS.inference_precision == "auto" else FLAGS.inference_precision
    if precision not in ("f32", "bf16", "f16"):
        raise cli.UsageError(f"--inference_precision must be auto, f32, bf16 or f16, got {precision}")
    if FLAGS.kv_cache_precision not in ("u8", "f16", "bf16", "f32"):
        raise cli.UsageError(f"--kv_cache_precision must be u8, f16, bf16 or f32, got {FLAGS.kv_cache_precision}")
    try:
        import numpy as np
        import openvino as ov
        import openvino_genai as genai
    except ImportError:
        raise cli.CliError(f"openvino-genai is not installed: {INSTALL}") from None
    from examples.generation.decoder import GenerationResult, current_rss_bytes, peak_rss_bytes

    baseline = current_rss_bytes()
    start = time.perf_counter()
    properties = {"INFERENCE_PRECISION_HINT": precision, "KV_CACHE_PRECISION": FLAGS.kv_cache_precision,
                  "INFERENCE_NUM_THREADS": FLAGS.num_threads}
    try:
        with tempfile.TemporaryDirectory(prefix="ov-genai-no-tokenizer-") as empty:
            tokenizer = genai.Tokenizer(empty)  # no tokenizer files: ids in, ids out
            pipe = genai.LLMPipeline(FLAGS.model_path, tokenizer, "CPU", **properties)
    except Exception as error:  # noqa: BLE001 - GenAI raises RuntimeError/IndexError for bad files
        raise cli.CliError(f"OpenVINO GenAI cannot load {FLAGS.model_path}: {cli.first_line(error)}") from None
    result = GenerationResult(prompt_tokens=prompt, load_s=time.perf_counter() - start, baseline_rss_bytes=baseline)

    config = genai.GenerationConfig(max_new_tokens=FLAGS.max_new_tokens, ignore_eos=not stop)
    config.eos_token_id = stop[0] if stop else 2
    if stop:
        config.stop_token_ids = set(stop)
    if FLAGS.temperature > 0:
        config.do_sample, config.temperature, config.top_p, config.rng_seed = True, FLAGS.temperature, FLAGS.top_p, FLAGS.seed
    stamps = []

    class Stamps(genai.StreamerBase):
        """Token ids as they come, with the time each arrived."""

        def write(self, token):
            now = time.perf_counter()
            for t in token if isinstance(token, list) else [token]:
                stamps.append((int(t), now))
            return genai.StreamingStatus.RUNNING

        def end(self):
            pass

    ids = ov.Tensor(np.array([prompt], dtype=np.int64))
    mask = ov.Tensor(np.ones((1, len(prompt)), dtype=np.int64))
    begin = time.perf_counter()
    try:
        out = pipe.generate(genai.TokenizedInputs(ids, mask), config, Stamps())
    except Exception as error:  # noqa: BLE001
        raise cli.CliError(f"OpenVINO GenAI failed to generate: {cli.first_line(error)}") from None
    end = time.perf_counter()
    tokens = [int(t) for t in out.tokens[0]]
    if [t for t, _ in stamps] != tokens or not stamps:  # a streamer that saw other ids: use GenAI's own clock
        metrics = out.perf_metrics
        result.ttft_s = metrics.get_ttft().mean / 1e3
        result.decode_s = metrics.get_tpot().mean / 1e3 * max(len(tokens) - 1, 0)
    else:
        result.ttft_s = stamps[0][1] - begin
        result.decode_s = end - stamps[0][1] if len(stamps) > 1 else 0.0
    result.prefill_s = result.ttft_s  # one call: the prompt's forward and the first token's choice
    result.tokens = tokens
    result.stop_reason = "stop_token" if tokens and tokens[-1] in stop else "max_new_tokens"
    result.peak_rss_bytes = peak_rss_bytes()
    report = {"runner": RUNNER_LABEL, "model_path": FLAGS.model_path, "num_threads": FLAGS.num_threads,
              "inference_precision": precision, "kv_cache_precision": FLAGS.kv_cache_precision, **result.as_json()}
    print(json.dumps(report) if FLAGS.json else "\n".join(f"{k}: {v}" for k, v in report.items()))
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    cli.run(main)
