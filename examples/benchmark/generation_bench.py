"""Token generation benchmark: ExecuTorch (XNNPACK fp32 / 8da4w and variants) against the CPU LLM
engines a user would pick (llama.cpp F32 / Q8_0 / Q4_0 / Q4_K_M, OpenVINO GenAI on the same GGUF
files, ONNX Runtime GenAI int4) on the same weights, prompt token ids, greedy decoding and thread
count, and against the machine's memory-bandwidth limit.

    python -m examples.benchmark.generation_bench --models stories15m,stories110m --threads 1,2

For each model: the weights (seeded random unless --weights names a checkpoint) are exported
once to ``--output_dir`` (programs, GGUF files and the ONNX folder are reused on a later run when
their weights and options are the same), then every row runs the prompt (prefill) and
``--max_new_tokens`` greedy tokens (decode), each in its own process, rows interleaved round by
round. Before each round's runs at a thread count a small probe measures sustained read
bandwidth at that thread count (:mod:`examples.generation.bandwidth`); every row's bytes read per
decoded token come from its files (:mod:`examples.generation.bytes_per_token`), so each row
shows the decode rate the bandwidth allows and the fraction of it reached. The table gives
medians over ``--rounds``, greedy agreement with ExecuTorch fp32 and 8da4w (identical leading
tokens), and the goal lines judge ExecuTorch's 4-bit rows (those with int4 groups no coarser
than the peers' and an fp32 KV cache) against the 4-bit peers with the toolkit's verdict rule
(>= 5 judged rounds: ``--rounds 10``). Peers that are not installed are rows saying so, with the
install command (``./setup.sh`` installs OpenVINO GenAI and ONNX Runtime GenAI; llama.cpp, a
source build: ``pip install '.[compare-llm]'``).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from absl import flags

from examples.common import cli
from examples.generation.bandwidth import BandwidthProbes

flags.DEFINE_list("models", ["stories15m"], "Zoo language models (stories15m, stories110m, llama3_2_1b).")
flags.DEFINE_list("threads", ["1", "2"], "Thread counts.")
flags.DEFINE_integer("prompt_len", 16, "Prompt length in tokens (BOS, then fixed ids).")
flags.DEFINE_integer("max_new_tokens", 64, "Generated tokens per run.")
flags.DEFINE_integer("group_size", 32, "8da4w: weights per int4 scale (larger groups: fewer scales to read).",
                     lower_bound=1)
flags.DEFINE_integer("max_seq_len", 128, "KV cache length of the exported programs (>= prompt + new tokens).")
flags.DEFINE_integer("rounds", 1, "Repetitions of every run; the table shows medians.")
flags.DEFINE_string("weights", "auto", "auto/random (seeded random, with a warning) or a checkpoint PATH (one model).")
flags.DEFINE_list("variants", None, "Rows to run (default: fp32, 8da4w, F32, Q8_0, Q4_0, Q4_K_M, ov-Q4_0, ov-Q4_K_M, "
                  "ort-int4); also 8da4w-g128 (group size 128), 8da4w-pc (one int4 scale per output channel), "
                  "8da4w-kv8 (int8 KV cache), 8da4w-2m (8da4w with the native runner's --huge_pages), "
                  "8da4w-attn-per-head / 8da4w-reshape-always (8da4w with the runner's --decode_attention=per_head / "
                  "--xnnpack_reshape=every_call), 8da4w-emb4 (4-bit token embedding), "
                  "8da4w-out8 (8-bit output projection), 8da4w-fp32prefill (fp32 prefill method), "
                  "8da4w-fused / 8da4w-g128-fused (q/k/v and w1/w3 each one linear), 8da4w-emb4-merged (greedy "
                  "XNNPACK partitions), 8da4w-emb4-merged-forms (and RMSNorm / RoPE in forms XNNPACK takes), "
                  "8da4w-merged-forms (8da4w so: --one_call_per_block), 8da4w-fused-merged-forms (with fused "
                  "projections too), 8da4w-fused-merged-forms-2m (that program with --huge_pages), 8da4w-region (the layers "
                  "one delegate, each token one parallel region; native runner only).")
flags.DEFINE_bool("aa", True, "Run 8da4w a second time as a row of its own (8da4w-aa) wherever 8da4w runs: the "
                  "spread of the two is the run's noise floor, which every verdict's interval must clear.")
flags.DEFINE_bool("probe_bandwidth", True, "Measure read bandwidth before every round (the limit column).")
flags.DEFINE_string("runner", "auto", "ExecuTorch runner: auto (native if built), native or python-standin.")
flags.DEFINE_string("output_dir", "benchmark-out/generation", "Where programs, GGUF files and results go.")
flags.DEFINE_bool("verbose", False, "Tracebacks of unexpected errors.")

FLAGS = flags.FLAGS


def _executorch_runner(variants: list[str]) -> str:
    """--runner resolved ("auto": native if built), checked against rows only it can run."""
    from examples.benchmark.generation_variants import VARIANTS
    from examples.runner.text_generation_client import DEFAULT_TEXT_RUNNER

    runner = FLAGS.runner
    if runner == "auto":
        runner = "native" if DEFAULT_TEXT_RUNNER.is_file() else "python-standin"
    elif runner not in ("native", "python-standin"):
        raise cli.UsageError("--runner must be auto, native or python-standin")
    native_only = [v for v in variants if VARIANTS[v].native_only]
    if native_only and runner != "native":
        needs = VARIANTS[native_only[0]]
        raise cli.UsageError(f"variant {native_only[0]} runs the native runner "
                             + (f"with {' '.join(needs.native_flags)}" if needs.native_flags else "(its kernel)")
                             + ": build it (./setup.sh) or drop the row")
    return runner


def main(argv):
    if len(argv) > 1:
        raise cli.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    from examples.benchmark.generation_runs import account_bytes, build_artifacts, missing_rows, ratios, run_model, table
    from examples.benchmark.generation_variants import DEFAULT_VARIANTS, VARIANTS, missing_packages, with_aa_twin
    from examples.generation.token_ids import prompt_tokens
    from examples.models.llama_zoo import LLM_MODELS

    unknown = [m for m in FLAGS.models if m not in LLM_MODELS]
    if unknown:
        raise cli.UsageError(f"unknown language model {unknown[0]} (one of {', '.join(LLM_MODELS)})")
    variants = FLAGS.variants or list(DEFAULT_VARIANTS)
    bad = [v for v in variants if v not in VARIANTS]
    if bad:
        raise cli.UsageError(f"unknown variant {bad[0]} (one of {', '.join(VARIANTS)})")
    try:
        threads = [int(t) for t in FLAGS.threads]
    except ValueError:
        raise cli.UsageError(f"--threads must be integers, got {','.join(FLAGS.threads)}") from None
    if any(t < 1 for t in threads) or FLAGS.rounds < 1 or FLAGS.prompt_len < 1 or FLAGS.max_new_tokens < 1:
        raise cli.UsageError("--threads, --rounds, --prompt_len and --max_new_tokens must be at least 1")
    if FLAGS.prompt_len + FLAGS.max_new_tokens > FLAGS.max_seq_len:
        raise cli.UsageError("--prompt_len + --max_new_tokens exceeds --max_seq_len")
    if FLAGS.weights not in ("auto", "random") and len(FLAGS.models) > 1:
        raise cli.UsageError("--weights PATH is one model's checkpoint: name one model")
    if FLAGS.aa:
        variants = with_aa_twin(variants)
    runner = _executorch_runner(variants)

    from examples.benchmark.generation_goals import goal_cells
    from examples.common.atomic_write import write_bytes_atomic
    from examples.common.machine import fingerprint

    started = time.time()
    available = [v for v in variants if not missing_packages(VARIANTS[v].engine, v)]
    output = Path(FLAGS.output_dir)
    rows, probes = [], {}  # probes: one BandwidthProbes per model (its buffer: the bytes a token reads)
    for name in FLAGS.models:
        model = LLM_MODELS[name]
        artifacts = build_artifacts(model, FLAGS.weights, output / name, FLAGS.max_seq_len, False,
                                    FLAGS.group_size, variants=available)
        accounting = account_bytes(model, artifacts, available, FLAGS.prompt_len, FLAGS.max_new_tokens)
        probes[name] = BandwidthProbes(FLAGS.probe_bandwidth)
        probes[name].size_for(accounting)
        measured = run_model(model, artifacts, threads, runner, prompt_tokens(FLAGS.prompt_len, model.shape.vocab_size),
                             FLAGS.max_new_tokens, FLAGS.rounds, variants=available, before_round=probes[name])
        for row in measured:
            row.bytes_per_token = _with_reported_kv(accounting.get(row.variant), row, model.shape)
        rows += measured + missing_rows(name, variants, threads)
    machine = fingerprint(started=started, ended=time.time(), threads=threads)
    print(f"\nmachine: {machine['cpu_model']}, {machine['usable_cpus']} usable CPUs; prompt {FLAGS.prompt_len} tokens, "
          f"{FLAGS.max_new_tokens} new tokens, medians of {FLAGS.rounds} round(s); "
          f"ExecuTorch runner: {runner}{' (Python stand-in: its RSS includes Python and libtorch)' if runner != 'native' else ''}")
    for name, model_probes in probes.items():
        for line in model_probes.lines():
            print(f"{name}: {line}")
    def by_model(figure) -> dict:  # {(model, threads): figure} from each model's probes
        return {(name, n): v for name, p in probes.items() for n, v in figure(p).items()}

    dram = by_model(BandwidthProbes.dram_gb_s)
    print(table(rows, bandwidth=by_model(BandwidthProbes.medians), dram=dram))
    for line in ratios(rows):
        print(line)
    goals = goal_cells(rows, by_model(BandwidthProbes.per_round), dram, FLAGS.group_size)
    for cell in goals:
        print(f"{cell['model']}, {cell['threads']} thread(s): {cell['text']}")
    settings = {"prompt_len": FLAGS.prompt_len, "max_new_tokens": FLAGS.max_new_tokens,
                "max_seq_len": FLAGS.max_seq_len, "rounds": FLAGS.rounds, "threads": threads,
                "group_size": FLAGS.group_size, "variants": variants}
    results = {"kind": "generation", "machine": machine, "date": time.strftime("%Y-%m-%d"), "settings": settings,
               "runner": runner, "bandwidth": {name: p.as_json() for name, p in probes.items()}, "goals": goals,
               "method": METHOD, "peer_packages": peer_packages(), "rows": [r.__dict__ for r in rows]}
    path = write_bytes_atomic(output / "generation_bench.json", json.dumps(results, indent=1).encode())
    print(f"wrote {path}")
    return 0


METHOD = ("each row in its own process, rows interleaved round by round in a random order per round (seed 0); "
          "medians over rounds; read bandwidth probed before every round at each thread count (C loop over a buffer the size of "
          "the bytes ExecuTorch 8da4w reads per token, weights and KV cache; 2 MiB pages requested); bytes per token from the files (weights and scales less the "
          "embedding table plus one row, KV cache at the mean decode position); goal verdicts by the toolkit's "
          "rule over whole rounds (examples/common/stats.py): a goal is met when its whole interval clears it, against "
          "each 4-bit peer; the bandwidth limit's as the median of each round's decode against the probe before that "
          "round; verdict words beyond the A/A twin's (8da4w-aa) noise floor")


def peer_packages() -> dict:
    """Installed versions of the peers' packages (None: not installed)."""
    from importlib import metadata

    out = {}
    for name in ("llama-cpp-python", "gguf", "openvino-genai", "openvino-tokenizers", "onnxruntime-genai"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def _with_reported_kv(accounting: dict | None, row, shape) -> dict | None:
    """OpenVINO's KV bytes follow the precision its runner reports it pinned."""
    from examples.generation.bytes_per_token import kv_cache_bytes

    precision = row.reports[0].get("kv_cache_precision") if row.reports else None
    if accounting is None or precision is None:
        return accounting
    per_element = {"u8": 1, "f16": 2, "bf16": 2, "f32": 4}.get(precision, accounting["kv_bytes_per_element"])
    kv = kv_cache_bytes(shape, accounting["position"], per_element)
    return {**accounting, "kv_cache": kv, "kv_bytes_per_element": per_element, "total": accounting["weights"] + kv}


if __name__ == "__main__":
    cli.run(main)
