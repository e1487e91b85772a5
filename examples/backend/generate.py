"""Generate text with an exported language model: text prompt in, text streamed out.

    python -m examples.backend.generate --model_path stories15m_xnnpack_fp32.pte \\
        --tokenizer tokenizer.model --prompt "Once upon a time" [--max_new_tokens 64] \\
        [--temperature 0.8 --top_p 0.9 --seed 1] [--num_threads 2]

The tokenizer (SentencePiece or tiktoken ``tokenizer.model``, or a Hugging Face
``tokenizer.json``) runs here in Python; the program sees token ids only. Generation stops at
``--max_new_tokens`` or the tokenizer's end-of-sequence token. A summary line (token counts,
time to first token, prefill and decode speed) goes to stderr, so stdout holds only the text.
"""

from __future__ import annotations

import sys
from pathlib import Path

from absl import flags

from examples.common import cli
from examples.generation.generation_flags import check_sampling_flags, define_sampling_flags

flags.DEFINE_string("model_path", None, "The .pte program (python -m examples.backend.xnnpack_examples "
                    "--model_name stories15m writes one).")
flags.DEFINE_string("tokenizer", None, "Tokenizer file: SentencePiece/tiktoken tokenizer.model or tokenizer.json.")
flags.DEFINE_string("prompt", None, "The text to continue.")
define_sampling_flags(64, "Threads for XNNPACK and the custom ops.")
flags.DEFINE_bool("bos", True, "Start the prompt with the tokenizer's beginning-of-sequence token.")
flags.DEFINE_bool("echo", True, "Print the prompt before the generated text.")
flags.DEFINE_bool("verbose", False, "Show third-party output and tracebacks of unexpected errors.")

FLAGS = flags.FLAGS
cli.register_usage_errors("examples.evaluation.tokenizer", "TokenizerError")
cli.register_usage_errors("examples.generation.decoder", "GenerationError")


def check_flags() -> tuple[Path, Path]:
    for name in ("model_path", "tokenizer", "prompt"):
        if FLAGS[name].value is None:
            raise cli.UsageError(f"--{name} is required")
    model = Path(FLAGS.model_path).expanduser()
    if not model.is_file():
        raise cli.UsageError(f"model file not found: {model}")
    check_sampling_flags(FLAGS)
    return model, Path(FLAGS.tokenizer).expanduser()


def main(argv):
    if len(argv) > 1:
        raise cli.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    model_path, tokenizer_path = check_flags()
    from examples.evaluation.tokenizer import TextTokenizer
    from examples.generation.tokenizer import StreamingDecoder

    tokenizer = TextTokenizer(tokenizer_path)
    prompt = tokenizer.encode(FLAGS.prompt, bos=FLAGS.bos)
    if not prompt:
        raise cli.UsageError("the prompt encodes to no tokens (give some text, or keep --bos)")

    from examples.generation.decoder import generate, load_decoder
    from examples.generation.sampling import Sampler

    decoder = load_decoder(model_path, FLAGS.num_threads, FLAGS.verbose)
    if decoder.vocab_size and tokenizer.vocab_size > decoder.vocab_size:
        raise cli.UsageError(f"the tokenizer has {tokenizer.vocab_size} tokens but the program's vocabulary is "
                             f"{decoder.vocab_size}: they do not belong together")
    if decoder.vocab_size and tokenizer.vocab_size < decoder.vocab_size:
        cli.warning_line(f"the tokenizer has {tokenizer.vocab_size} tokens, the program {decoder.vocab_size}: "
                         "generating from the tokenizer's ids only")
    stream = StreamingDecoder(tokenizer)
    if FLAGS.echo:
        sys.stdout.write(FLAGS.prompt)
        sys.stdout.flush()

    def show(token: int) -> None:
        if token not in tokenizer.stop_ids:
            sys.stdout.write(stream.push(token))
            sys.stdout.flush()

    result = generate(decoder, prompt, FLAGS.max_new_tokens, Sampler(FLAGS.temperature, FLAGS.top_p, FLAGS.seed),
                      stop_tokens=tokenizer.stop_ids, on_token=show, vocab_limit=tokenizer.vocab_size)
    sys.stdout.write("\n")
    sys.stdout.flush()
    stats = result.as_json()
    sys.stderr.write(f"prompt {stats['prompt_tokens']} tokens, generated {stats['generated_tokens']} "
                     f"({stats['stop_reason']}); time to first token {stats['time_to_first_token_ms']:.1f} ms, "
                     f"prefill {stats['prefill_tok_s']:.1f} tok/s, decode {stats['decode_tok_s']:.1f} tok/s, "
                     f"peak RSS {stats['peak_rss_kb'] / 1024:.0f} MiB (ExecuTorch Python runtime)\n")
    return 0


if __name__ == "__main__":
    cli.run(main)
