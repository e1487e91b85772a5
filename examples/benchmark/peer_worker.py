"""Measure one peer in a fresh process, so that its peak RSS is its own.

``python -m examples.benchmark.peer_worker REQUEST.json`` reads a request written by
:mod:`examples.benchmark.peers`, runs the classic methodology (iteration 1 reported alone,
``warmup`` iterations dropped, ``iters`` measured) and prints ONE JSON line on stdout::

    {"ok": true, "load_ms": ..., "times_ms": [...], "peak_rss_bytes": ..., "version": "..."}
    {"ok": false, "error": "one line"}

Request: ``{"kind": "ort"|"openvino"|"eager", "threads", "warmup", "iters", "inputs": [.npy paths],
"outputs": .npz path, "onnx_path", "input_names"}`` (ort), ``"ir_path", "precision"`` (openvino:
``null`` keeps the CPU plugin's default) or ``"model", "weights"`` (eager).
The ONNX Runtime worker never imports torch (its RSS would count it).
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time


def flatten_torch_outputs(outputs) -> list:
    """A model's outputs (tensor, tuple, list, dict, nested) as a flat list of numpy arrays."""
    import torch
    from torch.utils._pytree import tree_leaves

    return [leaf.detach().float().cpu().numpy() for leaf in tree_leaves(outputs) if isinstance(leaf, torch.Tensor)]


def peak_rss_bytes() -> int:
    """This process's peak RSS: VmHWM (ru_maxrss would include the parent's, inherited at exec)."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def time_iterations(run, warmup: int, iters: int):
    times, out = [], None
    for _ in range(warmup + iters):
        start = time.perf_counter()
        out = run()
        times.append((time.perf_counter() - start) * 1000.0)
    return times, out


def _ort(request: dict, inputs: list) -> dict:
    """ONNX Runtime with its inputs and outputs bound once (``run_with_iobinding``): the timed loop
    is the session's run, not Python's argument handling or output allocation."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = request["threads"]
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    start = time.perf_counter()
    session = ort.InferenceSession(request["onnx_path"], options, providers=["CPUExecutionProvider"])
    load_ms = (time.perf_counter() - start) * 1000.0
    binding = session.io_binding()
    for name, array in zip(request["input_names"], inputs):
        binding.bind_cpu_input(name, array)
    for output in session.get_outputs():
        binding.bind_output(output.name, "cpu")
    times, _ = time_iterations(lambda: session.run_with_iobinding(binding), request["warmup"], request["iters"])
    return {"load_ms": load_ms, "times_ms": times, "outputs": binding.copy_outputs_to_cpu(), "version": ort.__version__}


def _openvino(request: dict, inputs: list) -> dict:
    """Native OpenVINO on the CPU plugin: latency mode, one stream, ``threads`` threads; the
    precision it really ran in is the compiled model's INFERENCE_PRECISION_HINT. The inputs are
    set once, sharing the arrays' memory, so the timed loop is the infer request alone."""
    import openvino as ov

    config = {"PERFORMANCE_HINT": "LATENCY", "NUM_STREAMS": "1", "INFERENCE_NUM_THREADS": str(request["threads"])}
    if request.get("precision"):
        config["INFERENCE_PRECISION_HINT"] = request["precision"]
    start = time.perf_counter()
    compiled = ov.Core().compile_model(request["ir_path"], "CPU", config)
    load_ms = (time.perf_counter() - start) * 1000.0
    infer = compiled.create_infer_request()
    for i, array in enumerate(inputs):
        infer.set_input_tensor(i, ov.Tensor(array, shared_memory=True))
    warm, _ = time_iterations(infer.infer, request["warmup"], 0)
    # CPU and wall time over the measured iterations only, as the native runner reports them.
    cpu_start, wall_start = time.process_time(), time.perf_counter()
    times, _ = time_iterations(infer.infer, 0, request["iters"])
    cpu_ms, wall_ms = (time.process_time() - cpu_start) * 1000.0, (time.perf_counter() - wall_start) * 1000.0
    times = warm + times
    outputs = [infer.get_output_tensor(i).data.copy() for i in range(len(compiled.outputs))]
    return {"load_ms": load_ms, "times_ms": times, "outputs": outputs,
            "version": ov.get_version().split("-")[0],
            "precision": compiled.get_property("INFERENCE_PRECISION_HINT").get_type_name(),
            "engine_threads": int(compiled.get_property("INFERENCE_NUM_THREADS")),
            "cpu_ms": cpu_ms, "wall_ms": wall_ms}


def _eager(request: dict, inputs: list) -> dict:
    import warnings

    warnings.simplefilter("ignore")
    import torch

    torch.set_num_threads(request["threads"])
    torch.set_num_interop_threads(1)
    from examples.models.weights import load_model
    from examples.models.zoo import resolve_model

    start = time.perf_counter()
    model = load_model(resolve_model(request["model"]), request["weights"]).model.eval()
    load_ms = (time.perf_counter() - start) * 1000.0
    tensors = [torch.from_numpy(a) for a in inputs]
    with torch.inference_mode():
        times, outputs = time_iterations(lambda: model(*tensors), request["warmup"], request["iters"])
    return {"load_ms": load_ms, "times_ms": times, "outputs": flatten_torch_outputs(outputs),
            "version": torch.__version__}


def main(argv: list[str]) -> int:
    try:
        import numpy as np

        with open(argv[1], encoding="utf-8") as f:
            request = json.load(f)
        inputs = [np.load(p) for p in request["inputs"]]
        result = {"ort": _ort, "openvino": _openvino, "eager": _eager}[request["kind"]](request, inputs)
        np.savez(request["outputs"], *[np.asarray(o) for o in result.pop("outputs")])
        result["peak_rss_bytes"] = peak_rss_bytes()
        result["ok"] = True
    except Exception as error:  # noqa: BLE001 - reported to the parent as one line
        text = str(error).strip().splitlines()
        result = {"ok": False, "error": f"{type(error).__name__}: {text[0] if text else ''}".rstrip(": ")}
    sys.stdout.flush()
    os.write(1, (json.dumps(result) + "\n").encode())
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
