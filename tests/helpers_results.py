"""Synthetic benchmark result files (schema version 2) for the compare / publish tests.

Samples are drawn from a seeded generator: each round has its own level (rounds on a shared
machine differ) and iterations vary around it, like real interleaved rounds.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from examples.common.machine import machine_id
from examples.common.result_format import METHOD_VERSION, SCHEMA, SCHEMA_VERSION

ZEN2_FLAGS = ["avx", "avx2", "fma", "sse4_2"]
ZEN4_FLAGS = ZEN2_FLAGS + ["avx512f", "avx512bw", "avx512_vnni", "avx512_bf16"]

# (model, backend, threads) -> median ms
CELLS = {
    ("mv2", "xnnpack_fp32", 1): 3.5, ("mv2", "xnnpack_q8", 1): 1.8, ("mv2", "ort_fp32", 1): 4.1,
    ("mv2", "xnnpack_fp32", 2): 1.9, ("mv2", "xnnpack_q8", 2): 0.95, ("mv2", "ort_fp32", 2): 2.1,
}


def machine(family: int = 23, model: int = 49, stepping: int = 0, flags=None, brand: str = "AMD EPYC",
            started: str = "2026-11-25T09:00:00+00:00") -> dict:
    from examples.common.machine import isa_class, isa_names

    flags = ZEN2_FLAGS if flags is None else flags
    info = {"cpu_vendor": "AuthenticAMD", "cpu_model": brand, "cpu_family": family, "cpu_model_number": model,
            "cpu_stepping": stepping, "isa": isa_names(flags), "isa_class": isa_class(flags), "int8": None,
            "logical_cpus": 2, "usable_cpus": 2, "memory_bytes": 8 * 2**30, "memory_gib": 8, "arch": "x86_64",
            "os": "Linux 6.1.0", "os_system": "Linux", "kernel": "6.1.0", "python": "3.11.7"}
    info["id"] = machine_id(info)
    info.update(threads_used=[1, 2], packages={"executorch": "1.5.1"}, git={"commit": "0" * 40, "dirty": False},
                command=["examples/backend/benchmark.py", "--models", "mv2"], started=started, ended=started)
    return info


def run_doc(seed: int, cells=None, rounds: int = 10, iters: int = 20, slow: dict | None = None,
            machine_info: dict | None = None, round_noise: float = 0.03, iter_noise: float = 0.05) -> dict:
    """A result document; ``slow`` maps a cell to a factor its samples are multiplied by."""
    rng = np.random.default_rng(seed)
    cells = CELLS if cells is None else cells
    records = []
    for (model, backend, threads), ms in cells.items():
        factor = (slow or {}).get((model, backend, threads), 1.0)
        rounds_ms = [[float(v) for v in ms * factor * (1 + round_noise * rng.standard_normal())
                      * (1 + iter_noise * np.abs(rng.standard_normal(iters)))] for _ in range(rounds)]
        med = float(np.median([np.median(r) for r in rounds_ms]))
        records.append({"model": model, "backend": backend, "threads": threads, "status": "ok",
                        "median_ms": med, "mean_ms": med, "first_iteration_ms": med * 2,
                        "rounds_samples_ms": rounds_ms})
    m = machine() if machine_info is None else machine_info
    return {"schema": SCHEMA, "schema_version": SCHEMA_VERSION, "method_version": METHOD_VERSION,
            "created": m["started"], "machine": m,
            "packages": m["packages"], "settings": {"rounds": rounds}, "records": records, "comparisons": []}


def write_run(path: Path, doc: dict) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc))
    return path


def null_rounds(rng: np.random.Generator, names: list[str], rounds: int, iters: int = 20, ms: float = 2.0,
                pass_sd: float = 0.04, row_sd: float = 0.02, iter_sd: float = 0.03) -> dict[str, list[list[float]]]:
    """Interleaved rounds of rows that all measure the same thing (the null hypothesis): a
    level per pass shared by every row, a level per row and pass, iteration noise with spikes."""
    passes = rng.lognormal(0.0, pass_sd, rounds)
    out = {}
    for name in names:
        levels = ms * passes * rng.lognormal(0.0, row_sd, rounds)
        samples = levels[:, None] * rng.lognormal(0.0, iter_sd, (rounds, iters))
        spikes = rng.random((rounds, iters)) < 0.03
        samples[spikes] *= rng.uniform(1.2, 2.0, spikes.sum())
        out[name] = samples.tolist()
    return out
