"""Turn an eager model into an OpenVINO-delegated ExecuTorch program (fp32, or int8 via NNCF).

The delegate (``executorch.backends.openvino``) compiles the graph for the exporting CPU with
OpenVINO's CPU plugin and stores the compiled blob in the program; at run time the wheel's
``libexecutorch_backend_openvino.so`` imports that blob with no properties. So the program's
real precision is the CPU plugin's default on the machine (``INFERENCE_PRECISION_HINT``:
f32 on AVX2/AVX-512 CPUs, bf16 on CPUs with AVX512_BF16 or AMX), recorded with the CPU class
in the program's card (:mod:`examples.integrity.card`, section ``extra.compiled_for``).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable, Iterable, Sequence

import torch

from examples.export.lowering import ExportResult

DEVICE = "CPU"


def pte_filename(model_name: str, *, quantize: bool) -> str:
    return f"{model_name}_openvino_{'int8' if quantize else 'fp32'}.pte"


def default_precision(device: str = DEVICE) -> str:
    """The precision OpenVINO's plugin computes in by default on this machine (``"f32"``, ``"bf16"``)."""
    import openvino as ov

    return ov.Core().get_property(device, "INFERENCE_PRECISION_HINT").get_type_name()


def program_card(*, quantized: bool, device: str = DEVICE) -> dict:
    """What the program's card records: where it was compiled and what it runs in."""
    import openvino as ov

    from examples.quantization.cpu_caps import detect

    caps = detect()
    precision = default_precision(device)
    return {
        "backend": "openvino",
        "device": device,
        "cpu_class": caps.cpu_class,
        "cpu_model": caps.model,
        "openvino": ov.get_version(),
        # int8 programs compute their quantized ops in int8; the rest runs in the plugin's default.
        "inference_precision": f"int8 + {precision}" if quantized else precision,
        "weights": "int8" if quantized else "fp32",
        "threads": "bounded by the process's CPU affinity (the delegate has no thread setting)",
    }


def quantize_for_openvino(model: torch.nn.Module, example_inputs: tuple,
                          calibration: Iterable[Sequence[torch.Tensor]] | None) -> tuple[torch.fx.GraphModule, int]:
    """int8 with ``OpenVINOQuantizer`` through NNCF's PT2E flow (symmetric int8, the delegate's
    default mode), calibrated on ``calibration`` (default: the example inputs)."""
    from executorch.backends.openvino.quantizer import quantize_model

    batches = [tuple(b) for b in (calibration if calibration is not None else [example_inputs])]
    captured = torch.export.export(model, example_inputs).module()
    quantized = quantize_model(captured, batches, subset_size=len(batches),
                               transform_fn=lambda batch: batch)
    return quantized, len(batches)


def export_openvino_program(
    model: torch.nn.Module,
    example_inputs: tuple,
    *,
    quantize: bool = False,
    calibration: Iterable[Sequence[torch.Tensor]] | None = None,
    progress: Callable[[str], None] | None = None,
    device: str = DEVICE,
) -> tuple[ExportResult, dict]:
    """Export ``model`` lowered to OpenVINO; returns the result and the program's card."""
    from executorch.backends.openvino.partitioner import OpenvinoPartitioner
    from executorch.exir import EdgeCompileConfig, to_edge_transform_and_lower
    from executorch.exir.backend.backend_details import CompileSpec

    start = time.perf_counter()
    step = progress or (lambda stage: None)
    timings, used = {}, 0
    model = model.eval()
    if quantize:
        step("quantizing")
        model, used = quantize_for_openvino(model, example_inputs, calibration)
        timings["quantize_s"] = time.perf_counter() - start
    step("exporting")
    t = time.perf_counter()
    with torch.no_grad():
        exported = torch.export.export(model, example_inputs)
    timings["torch_export_s"] = time.perf_counter() - t
    step("lowering")
    t = time.perf_counter()
    edge = to_edge_transform_and_lower(
        exported,
        partitioner=[OpenvinoPartitioner([CompileSpec("device", device.encode())])],
        compile_config=EdgeCompileConfig(_check_ir_validity=not quantize),
    )
    timings["lower_s"] = time.perf_counter() - t
    step("serializing")
    t = time.perf_counter()
    program = edge.to_executorch()
    timings["serialize_s"] = time.perf_counter() - t
    result = ExportResult(buffer=program.buffer, edge=edge, delegated=True, quantized=quantize,
                          calibration_batches=used, seconds=time.perf_counter() - start, timings=timings)
    return result, program_card(quantized=quantize, device=device)


def save_openvino_program(result: ExportResult, card: dict, path: str | Path, *, model: str | None = None) -> Path:
    """Write the program and its one program card; ``card`` (where it was compiled, what it
    runs in) becomes the card's ``extra.compiled_for`` section."""
    from examples.export.lowering import save_program

    return save_program(result, path, model=model, backend="openvino", precision=card["inference_precision"],
                        extra={"compiled_for": card})
