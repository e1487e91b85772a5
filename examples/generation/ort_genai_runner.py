"""ONNX Runtime GenAI on token ids, a peer of ``text_generation_runner``: same flags, same JSON
keys (``runner: onnxruntime-genai``), on a model folder that :mod:`examples.generation.ort_genai_export`
builds (``genai_config.json`` + ``model.onnx``).

    python -m examples.generation.ort_genai_runner --model_path stories110m_ort_int4 \\
        --prompt_tokens 1,15,27 --max_new_tokens 32 --num_threads 2 --json

The thread count goes into the decoder's session options through ``Config.overlay`` (the folder
is not modified); ``min_length`` equals ``max_length`` so an early EOS cannot shorten a run.
The flow is the other runners': ``append_tokens(prompt)`` is the prefill, the first
``generate_next_token`` picks the first token from its logits, every later one runs one decode
step and picks the next.

Needs ``onnxruntime-genai`` (``pip install '.[llm-peers]'``, part of ``./setup.sh``). Run as its own process so its peak
RSS is ONNX Runtime's alone.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from absl import flags

from examples.common import cli
from examples.generation.generation_flags import checked_peer_request, define_peer_runner_flags

RUNNER_LABEL = "onnxruntime-genai"
INSTALL = "pip install onnxruntime-genai==0.18.0"

define_peer_runner_flags("The model folder (genai_config.json, model.onnx).",
                         "ONNX Runtime intra-op threads of the decoder session.")

FLAGS = flags.FLAGS


def session_overlay(threads: int) -> str:
    return json.dumps({"model": {"decoder": {"session_options": {
        "intra_op_num_threads": threads, "inter_op_num_threads": 1}}}})


def main(argv):
    folder = Path(FLAGS.model_path) if FLAGS.model_path else None
    missing = None if folder and (folder / "genai_config.json").is_file() else (
        f"model folder not found (no genai_config.json): {FLAGS.model_path}" if folder else "--model_path is required")
    prompt, stop = checked_peer_request(FLAGS, argv, missing)
    try:
        import numpy as np
        import onnxruntime_genai as genai
    except ImportError:
        raise cli.CliError(f"onnxruntime-genai is not installed: {INSTALL}") from None
    from examples.generation.decoder import GenerationResult, current_rss_bytes, peak_rss_bytes

    baseline = current_rss_bytes()
    start = time.perf_counter()
    try:
        config = genai.Config(str(folder))
        config.overlay(session_overlay(FLAGS.num_threads))
        model = genai.Model(config)
    except Exception as error:  # noqa: BLE001 - GenAI raises RuntimeError for bad folders
        raise cli.CliError(f"ONNX Runtime GenAI cannot load {folder}: {cli.first_line(error)}") from None
    result = GenerationResult(prompt_tokens=prompt, load_s=time.perf_counter() - start, baseline_rss_bytes=baseline)
    total = len(prompt) + FLAGS.max_new_tokens
    params = genai.GeneratorParams(model)
    search = {"max_length": total, "min_length": total if not stop else 0, "do_sample": FLAGS.temperature > 0}
    if FLAGS.temperature > 0:
        search.update(temperature=FLAGS.temperature, top_p=FLAGS.top_p, random_seed=FLAGS.seed)
    params.set_search_options(**search)
    generator = genai.Generator(model, params)

    begin = time.perf_counter()
    generator.append_tokens(np.array([prompt], dtype=np.int32))
    result.prefill_s = time.perf_counter() - begin
    generator.generate_next_token()
    token = int(generator.get_next_tokens()[0])
    result.ttft_s = time.perf_counter() - begin
    result.tokens.append(token)
    decode_start = time.perf_counter()
    while len(result.tokens) < FLAGS.max_new_tokens and token not in stop and not generator.is_done():
        generator.generate_next_token()
        token = int(generator.get_next_tokens()[0])
        result.tokens.append(token)
    result.decode_s = time.perf_counter() - decode_start
    result.stop_reason = "stop_token" if token in stop else "max_new_tokens"
    result.peak_rss_bytes = peak_rss_bytes()
    report = {"runner": RUNNER_LABEL, "model_path": str(folder), "num_threads": FLAGS.num_threads, **result.as_json()}
    print(json.dumps(report) if FLAGS.json else "\n".join(f"{k}: {v}" for k, v in report.items()))
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    cli.run(main)
