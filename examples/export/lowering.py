"""Turn an eager model into an ExecuTorch program: portable, XNNPACK fp32 or XNNPACK q8.

This is the one place that drives ExecuTorch's export APIs; the CLIs, the benchmark and
the tests all call :func:`export_program`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Sequence

import torch

from examples.common.atomic_write import write_bytes_atomic
from examples.quantization.quantize import quantize
from examples.quantization.recipes import QuantRecipe


@dataclass
class ExportResult:
    buffer: bytes  # the serialized .pte program
    edge: object  # EdgeProgramManager after lowering (graph printing, delegation summary)
    delegated: bool
    quantized: bool
    calibration_batches: int
    seconds: float
    etrecord: object | None = None
    timings: dict = field(default_factory=dict)
    recipe: str | None = None  # the quantization recipe's name (None: fp32)

    @property
    def graph_module(self) -> torch.fx.GraphModule:
        return self.edge.exported_program().graph_module

    def delegation_info(self):
        from executorch.devtools.backend_debug import get_delegation_info

        return get_delegation_info(self.graph_module)


def backend_config():
    """How every program of the toolkit is serialized. Graph inputs are not memory-planned: the
    caller's tensors are used in place (``set_input`` shares them instead of copying them into
    the planned arena), so a call costs no input copy. The runner and the Python runtime both
    pass their own input memory; outputs stay planned."""
    from executorch.exir import ExecutorchBackendConfig
    from executorch.exir.passes import MemoryPlanningPass

    return ExecutorchBackendConfig(memory_planning_pass=MemoryPlanningPass(alloc_graph_input=False))


def _torch_export(model, example_inputs: tuple, dynamic_shapes, no_grad: bool, may_decompose: bool,
                  decompose: bool | None):
    """``torch.export`` (under no_grad unless asked otherwise), then XNNPACK's decompositions when
    ``may_decompose`` and either ``decompose`` or the graph needs them."""
    if no_grad:
        with torch.no_grad():
            exported = torch.export.export(model, example_inputs, dynamic_shapes=dynamic_shapes)
    else:
        # Experimental (docs/PERFORMANCE.md, open lead): in one measurement a grad-mode export of
        # mv3 kept the 18 scalar hardsigmoid constants inside the delegate (no_grad: 18
        # _to_dim_order_copy calls outside it), but not reproducibly; hence not the default.
        exported = torch.export.export(model, example_inputs, dynamic_shapes=dynamic_shapes)
    if may_decompose:
        from examples.export.xnnpack_decompositions import decompose_for_xnnpack, needs_decompositions

        if decompose or needs_decompositions(exported):
            exported = decompose_for_xnnpack(exported)
    return exported


def _lower_to_edge(exported, delegate: bool, dynamic_shapes, partitioner_options: dict | None, check_ir: bool,
                   want_etrecord: bool):
    """The edge program, lowered to XNNPACK when ``delegate``."""
    from executorch.exir import EdgeCompileConfig, to_edge_transform_and_lower

    partitioners = []
    if delegate:
        from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner

        partitioners.append(XnnpackPartitioner(**(partitioner_options or {})))
    transform_passes = []
    if delegate and dynamic_shapes is not None:
        from examples.export.xnnpack_decompositions import infer_single_dynamic_dim

        transform_passes.append(infer_single_dynamic_dim)  # symbolic reshapes would fall out of XNNPACK
    return to_edge_transform_and_lower(
        exported,
        transform_passes=transform_passes or None,
        partitioner=partitioners,
        # Quantized non-delegated graphs keep quantized_decomposed ops, which the IR checker rejects.
        compile_config=EdgeCompileConfig(_check_ir_validity=check_ir),
        generate_etrecord=want_etrecord,
    )


def export_program(
    model: torch.nn.Module,
    example_inputs: tuple,
    *,
    delegate: bool = True,
    recipe: QuantRecipe | None = None,
    calibration: Iterable[Sequence[torch.Tensor]] | None = None,
    want_etrecord: bool = False,
    progress: Callable[[str], None] | None = None,
    partitioner_options: dict | None = None,
    export_no_grad: bool = True,
    xnnpack_decompositions: bool | None = None,
    dynamic_shapes=None,
) -> ExportResult:
    """Export ``model``; quantize first when a ``recipe`` is given; lower to XNNPACK when ``delegate``.

    ``progress`` (optional) is called with ``"quantizing"``, ``"exporting"``, ``"lowering"`` and
    ``"serializing"`` as each stage starts (the CLIs print progress lines from it).

    Performance knobs (defaults are the fastest measured configuration, docs/PERFORMANCE.md):
    ``partitioner_options`` are passed to ``XnnpackPartitioner`` (e.g. ``{"per_op_mode": True}``,
    measured slower: one delegate call per op); ``export_no_grad=False`` exports in grad mode
    (experimental, see docs/PERFORMANCE.md "open leads"). ``xnnpack_decompositions`` rewrites
    layer norm, attention and the reshapes around them into ops XNNPACK takes
    (``examples/export/xnnpack_decompositions.py``); default: when delegating a graph that has them.
    ``dynamic_shapes`` (torch.export's, e.g. from ``examples.models.input_specs.sequence_dynamic_shapes``)
    exports one program for a range of sizes (sequence lengths 1..max).
    """
    start = time.perf_counter()
    timings = {}
    model = model.eval()
    calibration_batches = 0
    step = progress or (lambda stage: None)
    if recipe is not None:
        step("quantizing")
        model, calibration_batches = quantize(model, example_inputs, recipe, calibration, dynamic_shapes)
        timings["quantize_s"] = time.perf_counter() - start
    step("exporting")
    t = time.perf_counter()
    exported = _torch_export(model, example_inputs, dynamic_shapes, export_no_grad,
                             delegate and xnnpack_decompositions is not False, xnnpack_decompositions)
    timings["torch_export_s"] = time.perf_counter() - t

    step("lowering")
    t = time.perf_counter()
    edge = _lower_to_edge(exported, delegate, dynamic_shapes, partitioner_options, recipe is None, want_etrecord)
    timings["lower_s"] = time.perf_counter() - t

    if recipe is not None and not delegate:
        # Registers the out-variants of quantize/dequantize that a portable q8 program calls.
        import executorch.kernels.quantized  # noqa: F401

    step("serializing")
    t = time.perf_counter()
    program = edge.to_executorch(backend_config())
    timings["serialize_s"] = time.perf_counter() - t
    etrecord = program.get_etrecord() if want_etrecord else None
    return ExportResult(
        buffer=program.buffer,
        edge=edge,
        delegated=delegate,
        quantized=recipe is not None,
        calibration_batches=calibration_batches,
        seconds=time.perf_counter() - start,
        etrecord=etrecord,
        timings=timings,
        recipe=recipe.name if recipe is not None else None,
    )


def save_program(result: ExportResult, path: str | Path, *, model: str | None = None,
                 tuned_cpu: str | None = None, extra: dict | None = None, backend: str | None = None,
                 precision: str | None = None) -> Path:
    """Write the program atomically (an interrupted export never leaves a partial file), then
    its program card ``<path>.json`` (:mod:`examples.integrity.card`): every export path that
    saves through here gets a card. ``model``: zoo name or ``module:factory``."""
    from examples.integrity.card import digest_bytes, make_card, write_card
    from examples.integrity.describe import card_methods, describe_program

    path = write_bytes_atomic(path, result.buffer)
    card = make_card(path, model=model, backend=backend or ("xnnpack" if result.delegated else "portable"),
                     precision=precision or ("q8" if result.quantized else "fp32"), recipe=result.recipe,
                     methods=card_methods(describe_program(result.buffer)), tuned_cpu=tuned_cpu,
                     extra=extra, digest=(len(result.buffer), digest_bytes(result.buffer)))
    write_card(path, card)
    return path
