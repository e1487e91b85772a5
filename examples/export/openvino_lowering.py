"""Turn an eager model into an OpenVINO-delegated ExecuTorch program (f32 / bf16 / f16, or
int8 via NNCF).

The delegate (``executorch.backends.openvino``) compiles the graph for the exporting CPU with
OpenVINO's CPU plugin and stores the compiled blob in the program. The wheel's runtime library
imports that blob with no properties (the CPU plugin's default precision: bf16 on CPUs with
AVX512_BF16 or AMX), so the native runner builds the delegate from source
(``third-party/executorch_openvino``): a program's compile specs named ``ov:<PROPERTY>`` are set
on OpenVINO before the import. Every program here asks for its precision that way
(``ov:INFERENCE_PRECISION_HINT``), and the runner reports what the imported model runs in.
The card (:mod:`examples.integrity.card`, section ``extra.compiled_for``) records the CPU class
the blob was compiled for and the precision it runs in there.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable, Iterable, Sequence

import torch

from examples.export.lowering import ExportResult, backend_config

DEVICE = "CPU"
PRECISIONS = ("f32", "bf16", "f16")  # INFERENCE_PRECISION_HINT values a program may ask for
PROPERTY_PREFIX = "ov:"  # compile specs the source-built delegate sets on OpenVINO before import
# The CPU plugin's OPTIMIZATION_CAPABILITIES entry that makes each precision real (not a fallback).
_CAPABILITY = {"bf16": "BF16", "f16": "FP16"}
# CPU flags a precision needs beyond that entry. The plugin lists FP16 on any AVX512-FP16 CPU, but
# there (no AMX-FP16) native OpenVINO ran mv2 slower in f16 than in f32, and a program asking for
# f16 at import kept computing in f32 while the compiled model's property read back "f16"
# (its outputs matched the f32 program's bit for bit): not a real candidate, so not offered.
_CPU_FLAGS = {"f16": ("amx_fp16",)}


def file_precision(*, quantize: bool, precision: str = "f32") -> str:
    """The precision in an OpenVINO program's file name (:func:`examples.export.names.pte_filename`):
    ``fp32``, ``bf16``, ``f16``, or ``int8`` (int8 programs, whatever the rest runs in)."""
    return "int8" if quantize else ("fp32" if precision == "f32" else precision)


def default_precision(device: str = DEVICE) -> str:
    """The precision OpenVINO's plugin computes in by default on this machine (``"f32"``, ``"bf16"``)."""
    import openvino as ov

    return ov.Core().get_property(device, "INFERENCE_PRECISION_HINT").get_type_name()


def supported_precisions(device: str = DEVICE) -> list[str]:
    """The precisions this CPU computes in natively; asking for another one falls back to f32."""
    import openvino as ov

    from examples.common.machine import cpu_flags

    caps = set(ov.Core().get_property(device, "OPTIMIZATION_CAPABILITIES"))
    flags = set(cpu_flags())
    return [p for p in PRECISIONS
            if p == "f32" or (_CAPABILITY[p] in caps and all(f in flags for f in _CPU_FLAGS.get(p, ())))]


def check_precision(precision: str, device: str = DEVICE) -> None:
    """A ValueError (one line) when ``precision`` is unknown or not native on this CPU."""
    if precision not in PRECISIONS:
        raise ValueError(f"unknown OpenVINO precision '{precision}' (choose from {', '.join(PRECISIONS)})")
    supported = supported_precisions(device)
    if precision not in supported:
        raise ValueError(f"this CPU has no native {precision} (OpenVINO would compute in f32): "
                         f"choose from {', '.join(supported)}")


def property_specs(precision: str) -> list:
    """The compile specs that make the delegate ask OpenVINO for ``precision`` at import."""
    from executorch.exir.backend.backend_details import CompileSpec

    return [CompileSpec(f"{PROPERTY_PREFIX}INFERENCE_PRECISION_HINT", precision.encode())]


def program_card(*, quantized: bool, precision: str = "f32", device: str = DEVICE,
                 quantization_mode: str | None = None) -> dict:
    """What the program's card records: where it was compiled and what it runs in."""
    import openvino as ov

    from examples.quantization.cpu_caps import detect

    caps = detect()
    return {
        "backend": "openvino",
        "device": device,
        "cpu_class": caps.cpu_class,
        "cpu_model": caps.model,
        "openvino": ov.get_version(),
        "requested": {"INFERENCE_PRECISION_HINT": precision},
        # int8 programs compute their quantized ops in int8 and the rest in ``precision``.
        "inference_precision": f"int8 + {precision}" if quantized else precision,
        "weights": "int8" if quantized else "fp32",
        # OpenVINOQuantizer's mode (int8_sym, int8_transformer) for int8 programs.
        **({"quantization_mode": quantization_mode} if quantized and quantization_mode else {}),
        "threads": "INFERENCE_NUM_THREADS set by the native runner from --num_threads",
    }


# Operators that make a graph "a transformer" for NNCF: its transformer scheme keeps softmax and
# the other attention internals out of int8 (the default scheme quantizes them: ViT fell to 7 dB
# SQNR vs eager, 28 dB with the transformer scheme). The native OpenVINO peer decides the same way.
_ATTENTION_OPS = ("softmax", "scaled_dot_product_attention", "multi_head_attention")


def has_attention(graph: torch.fx.GraphModule) -> bool:
    return any(node.op == "call_function" and any(op in str(node.target) for op in _ATTENTION_OPS)
               for node in graph.graph.nodes)


def quantize_for_openvino(model: torch.nn.Module, example_inputs: tuple,
                          calibration: Iterable[Sequence[torch.Tensor]] | None) -> tuple[torch.fx.GraphModule, int, str]:
    """int8 with ``OpenVINOQuantizer`` through NNCF's PT2E flow, calibrated on ``calibration``
    (default: the example inputs): symmetric int8 (the delegate's default mode), or NNCF's
    transformer scheme for graphs with attention. Returns the graph, batches used and the mode."""
    from executorch.backends.openvino.quantizer import QuantizationMode, quantize_model

    batches = [tuple(b) for b in (calibration if calibration is not None else [example_inputs])]
    captured = torch.export.export(model, example_inputs).module()
    mode = QuantizationMode.INT8_TRANSFORMER if has_attention(captured) else QuantizationMode.INT8_SYM
    quantized = quantize_model(captured, batches, mode=mode, subset_size=len(batches),
                               transform_fn=lambda batch: batch)
    return quantized, len(batches), mode.value


def export_openvino_program(
    model: torch.nn.Module,
    example_inputs: tuple,
    *,
    quantize: bool = False,
    calibration: Iterable[Sequence[torch.Tensor]] | None = None,
    progress: Callable[[str], None] | None = None,
    device: str = DEVICE,
    precision: str = "f32",
) -> tuple[ExportResult, dict]:
    """Export ``model`` lowered to OpenVINO, asking for ``precision`` (see :func:`check_precision`)
    for what is not quantized; returns the result and the program's card."""
    check_precision(precision, device)
    from executorch.backends.openvino.partitioner import OpenvinoPartitioner
    from executorch.exir import EdgeCompileConfig, to_edge_transform_and_lower
    from executorch.exir.backend.backend_details import CompileSpec

    start = time.perf_counter()
    step = progress or (lambda stage: None)
    timings, used, mode = {}, 0, None
    model = model.eval()
    if quantize:
        step("quantizing")
        model, used, mode = quantize_for_openvino(model, example_inputs, calibration)
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
        partitioner=[OpenvinoPartitioner([CompileSpec("device", device.encode()), *property_specs(precision)])],
        compile_config=EdgeCompileConfig(_check_ir_validity=not quantize),
    )
    timings["lower_s"] = time.perf_counter() - t
    step("serializing")
    t = time.perf_counter()
    program = edge.to_executorch(backend_config())
    timings["serialize_s"] = time.perf_counter() - t
    result = ExportResult(buffer=program.buffer, edge=edge, delegated=True, quantized=quantize,
                          calibration_batches=used, seconds=time.perf_counter() - start, timings=timings)
    return result, program_card(quantized=quantize, precision=precision, device=device, quantization_mode=mode)


def save_openvino_program(result: ExportResult, card: dict, path: str | Path, *, model: str | None = None) -> Path:
    """Write the program and its one program card; ``card`` (where it was compiled, what it
    runs in) becomes the card's ``extra.compiled_for`` section."""
    from examples.export.lowering import save_program

    return save_program(result, path, model=model, backend="openvino", precision=card["inference_precision"],
                        extra={"compiled_for": card})
