"""Read bandwidth against working-set size: where a sweep falls out of the cache this process gets
(how it is measured: :mod:`examples.generation.cache_sweep`, where its flags are defined).

    python -m examples.backend.cache_sweep --sizes_mb 32,48,64,72,80,96,128,256 --threads 1,2 [--rounds 2] [--json out.json]
"""

from __future__ import annotations

from examples.common import cli
from examples.generation.cache_sweep import main

if __name__ == "__main__":
    cli.run(main)
