"""Run an exported Llama program on token ids through ExecuTorch's Python runtime: the stand-in
of the native text_generation_runner, same flags and report (:mod:`examples.generation.token_runner`).

    python -m examples.backend.token_runner --model_path stories15m_xnnpack_fp32.pte \\
        --prompt_tokens 1,15,27 --max_new_tokens 32 [--temperature 0.8 --top_p 0.9 --seed 1] \\
        [--num_threads 2] [--json]
"""

from __future__ import annotations

from examples.common import cli
from examples.generation.token_runner import main

if __name__ == "__main__":
    cli.run(main)
