"""Measuring one backend x thread count once: the native runner for ExecuTorch programs (through
the one runner client), a fresh subprocess for each peer. Every figure comes from raw samples
through :mod:`examples.common.stats`."""

from __future__ import annotations

from examples.benchmark import openvino_backend, peers
from examples.benchmark.backends import BACKENDS, RunPlan
from examples.common.machine import package_versions
from examples.benchmark.programs import ModelContext, Prepared
from examples.common.stats import median, split_iterations, summarize
from examples.runner import client as runner


def _measure_executorch(backend: str, ctx: ModelContext, prepared: Prepared, threads: int, plan: RunPlan) -> dict:
    iters = plan.iterations
    inputs = runner.write_input_files(ctx.inputs, ctx.workdir / "runner_inputs")
    out = ctx.workdir / f"{backend}_t{threads}_output"
    program = prepared.info.get("per_thread", {}).get(threads, prepared.path)  # tuned: a winner per count
    m = runner.run_program(plan.runner, program, iters=iters.measured, warmup=iters.warmup,
                           threads=threads, inputs=inputs, output_path=out, timeout=plan.timeout_s)
    build = runner.xnnpack_build(m)  # the plain rows record theirs in "version" (--runner may be any build)
    if BACKENDS[backend].runner != "wheel" and build != BACKENDS[backend].runner:
        raise RuntimeError(f"the runner's XNNPACK delegate is the {build} build, not the "
                           f"{BACKENDS[backend].runner} one this row names")
    ran_in = openvino_backend.ran_in(m.raw)  # what imported OpenVINO models said they compute in
    precision = None  # fixed-precision backends: measure() fills in theirs
    if backend == "tuned":  # the winner's at this thread count
        precision = prepared.info["precisions"].get(threads)
    elif backend in openvino_backend.EXECUTORCH_OPENVINO:  # what its card records
        precision = prepared.info.get("precision")
    if ran_in:
        int8 = (precision or "").startswith("int8")
        precision = f"int8 + {ran_in}" if int8 else ran_in
    ttfr = None
    if m.load_ms is not None and m.init_ms is not None:
        ttfr = m.load_ms + m.init_ms + m.first_ms
    return {"first_iteration_ms": m.first_ms, "mean_ms": m.mean_ms, "median_ms": m.median_ms, "p90_ms": m.p90_ms,
            "min_ms": m.min_ms, "max_ms": m.max_ms, "load_ms": m.load_ms, "init_ms": m.init_ms,
            "time_to_first_result_ms": ttfr, "peak_rss_bytes": m.peak_rss_bytes,
            "version": f"executorch {package_versions(('executorch',))['executorch']} (native runner"
                       + (")" if build == "wheel" else f"; XNNPACK delegate: {build})"),
            "samples_ms": list(m.samples_ms), "cpu_ms": m.cpu_ms, "wall_ms": m.wall_ms, "outputs": m.outputs,
            "precision": precision}


def _measure_peer(backend: str, ctx: ModelContext, prepared: Prepared, threads: int, plan: RunPlan) -> dict:
    iters = plan.iterations
    inputs = peers.save_inputs(ctx.inputs, ctx.workdir / "peer_inputs")
    request = {"threads": threads, "warmup": iters.warmup, "iters": iters.measured}
    if backend == "eager":
        request.update(kind="eager", model=ctx.name, weights=ctx.weights)
    else:
        request.update(kind="ort", onnx_path=str(prepared.path),
                       input_names=prepared.info.get("input_names") or peers.input_names(len(ctx.inputs)))
        fp32 = ctx.artifacts.get("onnx_fp32")
        if fp32 is not None:
            request["input_names"] = fp32.info.get("input_names") or request["input_names"]
    result = peers.run_worker(request, inputs, ctx.workdir / f"{backend}_t{threads}", timeout=plan.timeout_s)
    first, measured = split_iterations(result.times_ms, iters.warmup)
    summary = summarize(measured)
    name = "onnxruntime" if backend != "eager" else "torch"
    return {"first_iteration_ms": first, "mean_ms": summary["mean"], "median_ms": summary["median"],
            "p90_ms": summary["p90"], "min_ms": summary["min"], "max_ms": summary["max"],
            "load_ms": result.load_ms, "init_ms": None, "time_to_first_result_ms": result.load_ms + first,
            "peak_rss_bytes": result.peak_rss_bytes, "version": f"{name} {result.version} (subprocess)",
            "samples_ms": measured, "outputs": result.outputs}


def measure(backend: str, ctx: ModelContext, prepared: Prepared, threads: int, plan: RunPlan) -> dict:
    result = _measure(backend, ctx, prepared, threads, plan)
    if result.get("precision") is None:
        result["precision"] = BACKENDS[backend].precision
    return result


def _measure(backend: str, ctx: ModelContext, prepared: Prepared, threads: int, plan: RunPlan) -> dict:
    if backend in openvino_backend.NATIVE:
        return openvino_backend.measure_peer(backend, ctx, prepared, threads, plan)
    if BACKENDS[backend].kind == "executorch":
        return _measure_executorch(backend, ctx, prepared, threads, plan)
    return _measure_peer(backend, ctx, prepared, threads, plan)


# Per-round figures combined by their median across rounds; peak RSS by the maximum.
_ROUND_MEDIAN_KEYS = ("first_iteration_ms", "mean_ms", "median_ms", "p90_ms", "min_ms", "max_ms",
                      "load_ms", "init_ms", "time_to_first_result_ms")


def combine_rounds(results: list[dict]) -> dict:
    """One backend x thread count measured in several interleaved rounds -> one result: each
    figure the median over rounds, and every round's raw samples kept (``rounds_samples_ms``)
    for comparisons that resample whole rounds."""
    combined = dict(results[-1])
    combined.pop("samples_ms", None)
    combined["rounds_samples_ms"] = [r["samples_ms"] for r in results]
    for key in _ROUND_MEDIAN_KEYS:
        values = [r[key] for r in results if r.get(key) is not None]
        combined[key] = median(values) if values else None
    rss = [r["peak_rss_bytes"] for r in results if r.get("peak_rss_bytes") is not None]
    combined["peak_rss_bytes"] = max(rss) if rss else None
    return combined


