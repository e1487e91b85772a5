"""XNNPACK's 4-bit GEMM alone at one row over a language model's linears, beside the read-bandwidth
probe over the same bytes (how it is measured: :mod:`examples.generation.gemm_probe`, where its
flags are defined).

    python -m examples.backend.gemm_probe --model stories110m --group_size 32 --threads 1,2 [--rounds 5] [--json out.json]
"""

from __future__ import annotations

from examples.common import cli
from examples.generation.gemm_probe import main

if __name__ == "__main__":
    cli.run(main)
