"""The benchmark's OpenVINO rows: ExecuTorch + OpenVINO delegate (``openvino_fp32``,
``openvino_int8``, run by the native runner) and native OpenVINO peers (``ov_default``,
``ov_f32``, ``ov_int8``, each run in its own ``peer_worker`` process).

Every row states the precision it really ran in: the compiled model's
``INFERENCE_PRECISION_HINT``, read back by the peer worker (native OpenVINO) or reported by the
native runner's source-built delegate (ExecuTorch + OpenVINO, whose programs ask for f32).
:mod:`.prepare` and :mod:`.measure` dispatch the OpenVINO backends here.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from examples.benchmark import peers
from examples.benchmark.backends import EXECUTORCH_OPENVINO, RunPlan
from examples.benchmark.cache import ArtifactCache, tensors_digest
from examples.benchmark.programs import ModelContext, PrepareOptions, Prepared, calibration_for
from examples.common.stats import split_iterations, summarize

NATIVE = ("ov_default", "ov_f32", "ov_int8")
NAMES = EXECUTORCH_OPENVINO + NATIVE
# INFERENCE_PRECISION_HINT asked of the CPU plugin (None: its default on this machine).
ASKED_PRECISION = {"ov_default": None, "ov_f32": "f32", "ov_int8": None}
# What an OpenVINO artifact depends on beyond the export sources every program shares: a change
# here rebuilds it (the lowering module included: editing it left stale cached programs before).
_SOURCES = [Path(__file__).resolve(), Path(peers.__file__).resolve(),
            Path(__file__).resolve().parents[1] / "export" / "openvino_lowering.py"]


def _require(*names: str) -> None:
    missing = [n for n in names if importlib.util.find_spec(n) is None]
    if missing:
        raise RuntimeError(f"{', '.join(missing)} not installed: pip install openvino==2026.4.1 nncf==3.4.0 (./setup.sh)")


# ExecuTorch + OpenVINO programs: variant -> (int8?, precision asked for what is not int8).
PROGRAMS = {"openvino_fp32": (False, "f32"), "openvino_int8": (True, "f32")}


def _prepare_executorch(ctx: ModelContext, calibration, cache: ArtifactCache, verbose: bool, *,
                        quantize: bool, precision: str) -> Prepared:
    from examples.common.quiet import quiet_stdio
    from examples.export.openvino_lowering import export_openvino_program, save_openvino_program

    _require("openvino", *(("nncf",) if quantize else ()))
    calib = calibration() if quantize else None
    fields = dict(ctx.fields(), precision=precision)
    if calib is not None:
        fields = dict(fields, calibration=tensors_digest(calib.batches))

    def build(path: Path) -> dict:
        with quiet_stdio(verbose):
            result, card = export_openvino_program(ctx.model, ctx.inputs, quantize=quantize,
                                                   calibration=calib.batches if calib else None, precision=precision)
        save_openvino_program(result, card, path)
        return {"seconds": result.seconds, "card": card, "precision": card["inference_precision"]}

    # Named by what the file is (as executorch_program's): tune's candidates and the benchmark's
    # rows that are one program share one build.
    kind = f"openvino_{'int8' if quantize else 'fp32'}_{precision}"
    art = cache.get(ctx.spec.name, kind, ".pte", fields, build,
                    packages=("torch", "executorch", "openvino", "nncf"), extra_sources=_SOURCES)
    mode = art.info.get("card", {}).get("quantization_mode", "int8_sym")
    how = f"OpenVINOQuantizer (NNCF PT2E, {mode}) on {calib.source} + " if quantize else ""
    return Prepared(art.path, art.size_bytes, art.build_seconds, art.reused,
                    f"{how}to_edge_transform_and_lower + OpenvinoPartitioner (device CPU, "
                    f"INFERENCE_PRECISION_HINT={precision}); blob compiled for CPU class "
                    f"'{art.info.get('card', {}).get('cpu_class')}'; INFERENCE_NUM_THREADS from --num_threads",
                    art.info)


def _prepare_native(backend: str, ctx: ModelContext, calibration, cache: ArtifactCache) -> Prepared:
    _require("openvino", "onnx", *(("nncf",) if backend == "ov_int8" else ()))
    fields = ctx.fields()
    onnx = ctx.artifacts.get("onnx_fp32")
    if onnx is None:
        onnx = cache.get(ctx.spec.name, "onnx_fp32", ".onnx", fields,
                         lambda path: peers.export_onnx(ctx.model, ctx.inputs, path),
                         packages=("torch", "onnx", "onnxscript"), extra_sources=[Path(peers.__file__).resolve()])
        ctx.artifacts["onnx_fp32"] = onnx
    ir = ctx.artifacts.get("ov_fp32")
    if ir is None:
        ir = cache.get(ctx.spec.name, "ov_fp32", ".xml", dict(fields, onnx=onnx.path.name),
                       lambda path: peers.convert_openvino(onnx.path, path),
                       packages=("torch", "onnx", "openvino"), extra_sources=_SOURCES)
        ctx.artifacts["ov_fp32"] = ir
    desc = f"ONNX ({onnx.info.get('exporter')}) -> openvino.convert_model, f32 weights"
    if backend != "ov_int8":
        asked = ASKED_PRECISION[backend]
        desc += f"; INFERENCE_PRECISION_HINT={asked}" if asked else "; the CPU plugin's default precision"
        return Prepared(ir.path, ir.size_bytes + ir.path.with_suffix(".bin").stat().st_size, ir.build_seconds,
                        ir.reused, desc, ir.info)
    calib = calibration()
    int8 = cache.get(ctx.spec.name, "ov_int8", ".xml", dict(fields, fp32=ir.path.name,
                                                            calibration=tensors_digest(calib.batches)),
                     lambda path: peers.quantize_openvino(ir.path, path, calib.batches),
                     packages=("torch", "onnx", "openvino", "nncf"), extra_sources=_SOURCES)
    return Prepared(int8.path, int8.size_bytes + int8.path.with_suffix(".bin").stat().st_size,
                    (ir.build_seconds or 0.0) + (int8.build_seconds or 0.0), ir.reused and int8.reused,
                    f"{desc}; {int8.info.get('quantizer', 'nncf.quantize int8')} calibrated on {calib.source}",
                    int8.info)


def prepare(backend: str, ctx: ModelContext, options: PrepareOptions, cache: ArtifactCache) -> Prepared:
    """The backend's artifact; int8 rows calibrate on the same batches as the other int8 rows."""
    def calibration():
        return calibration_for(ctx, options.calibration_data, options.num_calibration_samples)

    if backend in EXECUTORCH_OPENVINO:
        quantize, precision = PROGRAMS[backend]
        return _prepare_executorch(ctx, calibration, cache, options.verbose,
                                   quantize=quantize, precision=precision)
    return _prepare_native(backend, ctx, calibration, cache)


def measure_peer(backend: str, ctx: ModelContext, prepared: Prepared, threads: int, plan: RunPlan) -> dict:
    """One native OpenVINO run in a fresh ``peer_worker`` process."""
    iters = plan.iterations
    warmup, path, timeout = iters.warmup, prepared.path, plan.timeout_s
    inputs = peers.save_inputs(ctx.inputs, ctx.workdir / "peer_inputs")
    request = {"kind": "openvino", "threads": threads, "warmup": warmup, "iters": iters.measured,
               "ir_path": str(path), "precision": ASKED_PRECISION.get(backend)}
    result = peers.run_worker(request, inputs, ctx.workdir / f"{backend}_t{threads}", timeout=timeout)
    first, measured = split_iterations(result.times_ms, warmup)
    summary = summarize(measured)
    precision = result.extra.get("precision")
    if backend == "ov_int8" and precision:
        precision = f"int8 + {precision}"
    return {"first_iteration_ms": first, "mean_ms": summary["mean"], "median_ms": summary["median"],
            "p90_ms": summary["p90"], "min_ms": summary["min"], "max_ms": summary["max"],
            "load_ms": result.load_ms, "init_ms": None, "time_to_first_result_ms": result.load_ms + first,
            "peak_rss_bytes": result.peak_rss_bytes, "version": f"openvino {result.version} (subprocess)",
            "precision": precision, "cpu_ms": result.extra.get("cpu_ms"), "wall_ms": result.extra.get("wall_ms"),
            "samples_ms": measured, "outputs": result.outputs}


def openvino_program(ctx: ModelContext, cache: ArtifactCache, *, candidate, options) -> Prepared:
    """A tune candidate (``openvino_fp32``, ``openvino_bf16``, ``openvino_int8`` ...) built like the
    benchmark's rows: the same cache entry when it is the same program."""
    def calibration():
        return calibration_for(ctx, options.calibration_data, options.num_calibration_samples)

    return _prepare_executorch(ctx, calibration, cache, options.verbose,
                               quantize=candidate.precision == "int8", precision=candidate.openvino_precision)


def ran_in(raw: dict) -> str | None:
    """What the runner's OpenVINO models reported running in (``"f32"``, ``"bf16"`` ...), or None
    when the run imported none (or the delegate could not say). Several models: joined by '/'."""
    found = [m.get("precision") for m in raw.get("delegate_models", []) if m.get("backend") == "openvino"]
    found = sorted({p for p in found if p})
    return "/".join(found) or None
