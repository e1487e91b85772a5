"""Per-operator profile of one prefill and of the decode steps of an exported Llama program
(how it is measured: :mod:`examples.generation.step_profile`, where its flags are defined).

    python -m examples.backend.step_profile --model_path stories110m_xnnpack_8da4w.pte \\
        --prompt_len 64 --decode_steps 8 --num_threads 1 [--top 12] [--json out.json]
"""

from __future__ import annotations

from examples.common import cli
from examples.generation.step_profile import main

if __name__ == "__main__":
    cli.run(main)
