"""The ahead-of-time half of ``DecodeRegionBackend`` (runtime/decode_region/decode_region_backend.cpp):
a partitioner that hands the ``decode_region::layers`` call and its weights block to the backend,
and the preprocess step that writes what the backend's ``init`` reads.

The blob: 64 bytes of header (``DREGION1``, the seven int32 sizes of ``decode_region_dims_t``,
zeros; 64 keeps what follows 4-byte aligned wherever the segment lands), then the fp32 norms.
Each linear is named data of the program, ``decode_region.<layer>.<index>`` (its int4 values then
bf16 scales), so the backend can pack and free one at a time, as the XNNPACK delegate does with
its weights. Defining :class:`DecodeRegionBackend` is what lets ``to_backend`` find it by name.
"""

from __future__ import annotations

import numpy as np
from executorch.exir.backend.backend_details import BackendDetails, PreprocessResult
from executorch.exir.backend.partitioner import DelegationSpec, Partitioner, PartitionResult
from executorch.exir.backend.utils import tag_constant_data

from examples.generation.decode_region import StepShape, split_block

MAGIC = b"DREGION1"
HEADER_BYTES = 64
OP_NAME = "decode_region.layers"  # how the op's edge overload names itself (examples/generation/decode_region_export.py)


def blob(dims: list[int], norms: bytes) -> bytes:
    """The backend's processed bytes for these sizes and norms."""
    header = MAGIC + np.asarray(dims, "<i4").tobytes()
    return header + bytes(HEADER_BYTES - len(header)) + norms


def linear_key(layer: int, index: int) -> str:
    return f"decode_region.{layer}.{index}"


def _layers_calls(graph) -> list:
    return [n for n in graph.nodes if n.op == "call_function" and OP_NAME in str(n.target)]


def _constant(program, node):
    """The tensor a placeholder of ``program`` stands for (a buffer or a lifted constant)."""
    signature = program.graph_signature
    name = signature.inputs_to_buffers.get(node.name) or signature.inputs_to_lifted_tensor_constants.get(node.name)
    if name is None:
        raise ValueError(f"{node.name} is not a constant of the program")
    return program.state_dict[name] if name in program.state_dict else program.constants[name]


class DecodeRegionBackend(BackendDetails):
    @staticmethod
    def preprocess(edge_program, compile_specs) -> PreprocessResult:
        from executorch.exir._serialize._named_data_store import NamedDataStore

        (call,) = _layers_calls(edge_program.graph_module.graph)
        _hidden, _input_pos, weights, dims = call.args
        block = _constant(edge_program, weights).contiguous().numpy().tobytes()
        norms, linears = split_block(block, StepShape(*dims))
        store = NamedDataStore()
        for layer, index, data in linears:
            store.add_named_data(linear_key(layer, index), data, alignment=64)
        return PreprocessResult(processed_bytes=blob(list(dims), norms),
                                data_store_output=store.get_named_data_store_output())


class DecodeRegionPartitioner(Partitioner):
    """The ``decode_region::layers`` call, with its weights block, to the backend (one a program:
    the linears' named data keys are the same for every call)."""

    def __init__(self):
        super().__init__()
        self.delegation_spec = DelegationSpec(DecodeRegionBackend.__name__, [])

    def partition(self, exported_program) -> PartitionResult:
        tags = {}
        calls = _layers_calls(exported_program.graph_module.graph)
        if len(calls) > 1:
            raise ValueError(f"one decode_region::layers call a program, found {len(calls)}")
        for node in calls:
            node.meta["delegation_tag"] = "decode_region"
            tags["decode_region"] = self.delegation_spec
        tag_constant_data(exported_program)
        return PartitionResult(tagged_exported_program=exported_program, partition_tags=tags)
