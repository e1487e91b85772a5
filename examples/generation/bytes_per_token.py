"""Bytes one decode step reads, per engine, from the files the engine runs.

A decode step multiplies every linear weight once (with its quantization scales), gathers one
row of the token embedding, and reads the KV cache up to the current position. So:

    weights   = the file's tensor bytes - the embedding table + one embedding row
    kv_cache  = 2 (K and V) x layers x position x kv_heads x head_dim x bytes per element
    total     = weights + kv_cache

Sources: an ExecuTorch program (``.pte``): its size less the constant tensors the embedding
operator gathers from (found through ``forward``'s instructions, so a 4-bit embedding's table
and scales count as such) and less what only its other methods read (an fp32 prefill method's
weights); a GGUF file: its tensors' byte sizes (``token_embd`` is the table); an
ONNX Runtime GenAI folder: the initializers of ``model.onnx`` (the ``Gather`` input is the
table). OpenVINO GenAI reads the GGUF file (its in-memory form of Q4_0 keeps u4 weights with a
scale and a zero point per 32, slightly more than the file). Norm weights and the file's
metadata are counted as read (they are, and are tiny). KV bytes per element: ExecuTorch's cache is
fp32 (its int8 cache: :func:`int8_kv_bytes_per_element`), llama.cpp's f16 by default, ONNX
Runtime GenAI's fp32 on CPU, OpenVINO's the pinned
``KV_CACHE_PRECISION`` (u8 with a scale per token and head, counted as 1 byte).
"""

from __future__ import annotations

from pathlib import Path

from examples.generation.program_file import program_flatbuffer

# Bytes per KV-cache element by engine (see the module docstring).
KV_BYTES = {"executorch": 4, "llama.cpp": 2, "onnxruntime-genai": 4, "openvino-genai": 1}
_SCALAR_BYTES = {"FLOAT": 4, "DOUBLE": 8, "HALF": 2, "BFLOAT16": 2, "BYTE": 1, "CHAR": 1, "SHORT": 2, "INT": 4,
                 "LONG": 8, "BOOL": 1, "UINT16": 2, "BITS4x2": 1}


class BytesPerTokenError(ValueError):
    """A file whose embedding table cannot be found."""


def int8_kv_bytes_per_element(shape) -> float:
    """ExecuTorch's int8 KV cache (the LLM exporter's quantize_kv_cache): one byte a value, plus
    an fp32 scale and an int8 zero point per token and head."""
    return 1 + 5 / (shape.dim // shape.n_heads)


def kv_cache_bytes(shape, position: float, bytes_per_element: float) -> float:
    """K and V of every layer for ``position`` cached tokens."""
    kv_heads = shape.n_kv_heads or shape.n_heads
    return 2 * shape.n_layers * position * kv_heads * (shape.dim // shape.n_heads) * bytes_per_element


def decode_position(prompt_len: int, max_new_tokens: int) -> float:
    """The mean number of cached tokens a decode step attends to: the steps after the first token
    attend to prompt_len + 1 ... prompt_len + max_new_tokens - 1 tokens."""
    return prompt_len + max_new_tokens / 2


def _tensor_bytes(tensor) -> int:
    name = getattr(tensor.scalar_type, "name", str(tensor.scalar_type))
    count = 1
    for size in tensor.sizes:
        count *= int(size)
    return count * _SCALAR_BYTES.get(name, 4)


def _other_methods_bytes(path: Path, program, segment_base: int) -> int:
    """Bytes of the file only the methods other than ``forward`` read (an fp32 prefill's,
    examples/generation/prefill_split.py), so a decode step never does: the segments their
    delegates' payloads and the named data (delegate weights) those payloads name, less every
    segment forward's delegates use the same way. 0 for a one-method program. Constant tensors
    stay counted (the token embedding both methods share, norms)."""
    plans = [plan for plan in program.execution_plan if plan.delegates]
    if not any(plan.name != "forward" for plan in plans):
        return 0
    inline = program.backend_delegate_data or []

    def segments_read(plan, f) -> set[int]:
        segments, payloads = set(), []
        for delegate in plan.delegates:
            where = delegate.processed
            if where.location.name == "SEGMENT":
                segments.add(where.index)
                f.seek(segment_base + program.segments[where.index].offset)
                payloads.append(f.read(program.segments[where.index].size))
            else:
                payloads.append(bytes(inline[where.index].data))
        payload = b"".join(payloads)
        return segments | {entry.segment_index for entry in program.named_data or [] if entry.key.encode() in payload}

    with open(path, "rb") as f:
        forward = set().union(*(segments_read(p, f) for p in plans if p.name == "forward"))
        others = set().union(*(segments_read(p, f) for p in plans if p.name != "forward"))
    return sum(program.segments[i].size for i in others - forward)


def pte_embedding_bytes(path: Path, vocab_size: int, program=None) -> int:
    """Bytes of the constant tensors an embedding operator of the program gathers from (table
    and, when quantized, its scales / zero points): every constant operand whose first
    dimension is the vocabulary, in ``forward`` (the method of every decode step)."""
    program = program or program_flatbuffer(Path(path))[0]
    total = 0
    for plan in [p for p in program.execution_plan if p.name == "forward"]:
        kinds = [op.name for op in plan.operators]
        seen = set()
        for chain in plan.chains:
            for instruction in chain.instructions:
                call = instruction.instr_args
                if type(call).__name__ != "KernelCall" or "embedding" not in kinds[call.op_index]:
                    continue
                for index in call.args:
                    value = plan.values[index].val
                    if index in seen or type(value).__name__ != "Tensor":
                        continue
                    is_constant = getattr(value, "allocation_info", None) is None and value.sizes
                    if is_constant and int(value.sizes[0]) == vocab_size:
                        seen.add(index)
                        total += _tensor_bytes(value)
    if not total:
        raise BytesPerTokenError(f"{Path(path).name}: no embedding table of {vocab_size} rows found")
    return total


def gguf_embedding_and_total(path: Path) -> tuple[int, int]:
    import gguf

    reader = gguf.GGUFReader(path)
    total = sum(int(t.n_bytes) for t in reader.tensors)
    table = next((int(t.n_bytes) for t in reader.tensors if t.name == "token_embd.weight"), 0)
    if not table:
        raise BytesPerTokenError(f"{Path(path).name}: no token_embd.weight")
    return table, total


def onnx_embedding_and_total(folder: Path) -> tuple[int, int]:
    import onnx
    from onnx import helper

    model = onnx.load(str(Path(folder) / "model.onnx"), load_external_data=False)
    sizes = {}
    for init in model.graph.initializer:
        count = 1
        for d in init.dims:
            count *= int(d)
        itemsize = helper.tensor_dtype_to_np_dtype(init.data_type).itemsize
        sizes[init.name] = count * itemsize
    gathered = {node.input[0] for node in model.graph.node if node.op_type in ("Gather", "GatherBlockQuantized")}
    table = sum(sizes.get(name, 0) for name in gathered)
    if not table:
        raise BytesPerTokenError(f"{folder}: no Gather over an initializer (the embedding) in model.onnx")
    # GatherBlockQuantized's scales are the table's too
    for node in model.graph.node:
        if node.op_type == "GatherBlockQuantized":
            table += sum(sizes.get(name, 0) for name in node.input[2:])
    return table, sum(sizes.values())


def weight_bytes(engine: str, path: Path, vocab_size: int) -> dict:
    """``{"file", "other_methods", "embedding_table", "embedding_row", "weights"}`` for the artifact
    an engine runs: ``weights`` = file - other_methods - embedding_table + embedding_row, where
    ``other_methods`` is what only a program's methods besides forward read (0 but for .pte)."""
    path = Path(path)
    other_methods = 0
    if engine == "executorch":
        program, segment_base = program_flatbuffer(path)
        if not any(plan.name == "forward" for plan in program.execution_plan):
            raise BytesPerTokenError(f"{path.name}: no forward method")
        total = path.stat().st_size
        other_methods = _other_methods_bytes(path, program, segment_base)
        table = pte_embedding_bytes(path, vocab_size, program)
    elif engine in ("llama.cpp", "openvino-genai"):
        table, total = gguf_embedding_and_total(path)
    elif engine == "onnxruntime-genai":
        table, total = onnx_embedding_and_total(path)
    else:
        raise BytesPerTokenError(f"unknown engine {engine!r}")
    row = table / vocab_size
    return {"file": total, "other_methods": other_methods, "embedding_table": table, "embedding_row": row,
            "weights": total - other_methods - table + row}


def bytes_per_token(engine: str, path: Path, shape, position: float, kv_bytes: float | None = None) -> dict:
    """The accounting of one decode step: weight bytes, KV-cache bytes at ``position``, total."""
    weights = weight_bytes(engine, path, shape.vocab_size)
    per_element = KV_BYTES[engine] if kv_bytes is None else kv_bytes
    kv = kv_cache_bytes(shape, position, per_element)
    return {**weights, "kv_cache": kv, "kv_bytes_per_element": per_element, "position": position,
            "total": weights["weights"] + kv}
