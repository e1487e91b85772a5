"""Run an exported Llama program on token ids: prefill, then decode with the KV cache.

    python -m examples.backend.token_runner --model_path stories15m_xnnpack_fp32.pte \\
        --prompt_tokens 1,15,27 --max_new_tokens 32 [--temperature 0.8 --top_p 0.9 --seed 1] \\
        [--num_threads 2] [--json]

STAND-IN: this drives ``forward()`` through ExecuTorch's Python runtime (the native
text_generation_runner is not built yet), so its peak RSS includes the Python interpreter and
libtorch (the custom SDPA / KV-cache kernels ship only inside a libtorch extension), and each
step pays Python call overhead. Every report says ``runner: python-standin``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from absl import flags

from examples.common import cli
from examples.generation.generation_flags import check_sampling_flags, define_sampling_flags
from examples.generation.token_ids import parse_token_list

RUNNER_LABEL = "python-standin"

flags.DEFINE_string("model_path", None, "The .pte program (exported with KV cache).")
flags.DEFINE_string("prompt_tokens", None, "Comma-separated prompt token ids, e.g. 1,15,27.")
define_sampling_flags(32, "Threads for XNNPACK and the custom ops.")
flags.DEFINE_string("stop_tokens", "", "Comma-separated token ids that end generation (kept in the output).")
flags.DEFINE_bool("json", False, "Print one JSON object instead of the text report.")
flags.DEFINE_bool("verbose", False, "Show third-party output and tracebacks of unexpected errors.")

FLAGS = flags.FLAGS
cli.register_usage_errors("examples.generation.decoder", "GenerationError")


def check_flags() -> tuple[Path, list[int], list[int]]:
    if not FLAGS.model_path:
        raise cli.UsageError("--model_path is required")
    path = Path(FLAGS.model_path).expanduser()
    if not path.is_file():
        raise cli.UsageError(f"model file not found: {path}")
    if not FLAGS.prompt_tokens:
        raise cli.UsageError("--prompt_tokens is required (comma-separated token ids)")
    prompt = parse_token_list(FLAGS.prompt_tokens, "--prompt_tokens")
    if not prompt:
        raise cli.UsageError("--prompt_tokens holds no token ids")
    check_sampling_flags(FLAGS)
    return path, prompt, parse_token_list(FLAGS.stop_tokens, "--stop_tokens")


def report_text(result, path: Path) -> str:
    data = result.as_json()
    lines = [f"runner: {RUNNER_LABEL} (ExecuTorch Python runtime, not the native runner)",
             f"program: {path}",
             f"tokens: {','.join(map(str, result.tokens))}"]
    lines += [f"{key}: {data[key]}" for key in ("prompt_tokens", "generated_tokens", "time_to_first_token_ms",
                                                  "prefill_tok_s", "decode_tok_s", "peak_rss_kb", "stop_reason")]
    return "\n".join(lines)


def main(argv):
    if len(argv) > 1:
        raise cli.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    path, prompt, stop = check_flags()
    from examples.generation.decoder import generate, load_decoder
    from examples.generation.sampling import Sampler

    decoder = load_decoder(path, FLAGS.num_threads, FLAGS.verbose)
    result = generate(decoder, prompt, FLAGS.max_new_tokens,
                      Sampler(FLAGS.temperature, FLAGS.top_p, FLAGS.seed), stop_tokens=stop)
    if FLAGS.json:
        data = {"runner": RUNNER_LABEL, "model_path": str(path), "num_threads": FLAGS.num_threads,
                "prefill_method": decoder.prefill_method, **result.as_json()}
        print(json.dumps(data))
    else:
        print(report_text(result, path))
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    cli.run(main)
