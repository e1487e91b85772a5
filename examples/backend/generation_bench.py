"""Token generation benchmark: ExecuTorch against the CPU LLM engines a user would pick, on the
same weights, prompt, greedy decoding and thread count (what it runs and writes:
:mod:`examples.benchmark.generation_bench`, where its flags are defined).

    python -m examples.backend.generation_bench --models stories15m,stories110m --threads 1,2
"""

from __future__ import annotations

from examples.benchmark.generation_bench import main
from examples.common import cli

if __name__ == "__main__":
    cli.run(main)
