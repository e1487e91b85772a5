"""Human readable reports on an exported program: lowered graph and delegation summary."""

from __future__ import annotations

# Graph plumbing that is never an operator: reading a delegate's outputs, and the memory
# planner's buffers (``alloc``) that the serialized graph shows for each out-variant call.
PLUMBING_OPS = ("getitem", "alloc")


def lowered_graph_text(result) -> str:
    """The edge program's graph; delegated parts show as ``executorch_call_delegate``."""
    return str(result.graph_module.graph).rstrip()


def delegation_counts(info) -> tuple[dict[str, int], dict[str, int]]:
    """``(delegated, outside)``: op type -> node count, from ``get_delegation_info``."""
    delegated, outside = {}, {}
    for op_type, breakdown in info.delegation_by_operator.items():
        if breakdown.delegated:
            delegated[op_type] = breakdown.delegated
        if breakdown.non_delegated and op_type not in PLUMBING_OPS:
            outside[op_type] = breakdown.non_delegated
    return delegated, outside


def _ops(counts: dict[str, int]) -> str:
    return ", ".join(f"{op} x{n}" for op, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def _is_delegate_call(node) -> bool:
    return node.op == "call_function" and getattr(node.target, "__name__", "") == "executorch_call_delegate"


def _delegate_of(node):
    """The delegate call a node's value comes from (itself, or through a ``getitem``), else None."""
    if _is_delegate_call(node):
        return node
    if node.op == "call_function" and getattr(node.target, "__name__", "") == "getitem" and node.args:
        source = node.args[0]
        return source if hasattr(source, "op") and _is_delegate_call(source) else None
    return None


def boundary_crossings(graph_module) -> int:
    """Tensors handed between a delegated subgraph and anything but the program's own inputs,
    weights and outputs: each is a hand-over (often a copy) that one bigger subgraph avoids."""
    crossings = 0
    for node in graph_module.graph.nodes:
        if not _is_delegate_call(node):
            continue
        for arg in node.args[1:]:  # args[0] is the lowered module
            if hasattr(arg, "op") and arg.op == "call_function":
                crossings += 1  # computed outside this subgraph (portable op or another delegate)
        for user in node.users:
            consumers = user.users if _delegate_of(user) is node else {user: None}
            crossings += sum(1 for c in consumers if c.op != "output")
    return crossings


def fragmentation(result) -> tuple[int, int]:
    """``(delegated subgraphs, boundary crossings)`` of an exported program."""
    return result.delegation_info().num_delegated_subgraphs, boundary_crossings(result.graph_module)


def delegation_summary(result, backend: str = "XNNPACK") -> str:
    info = result.delegation_info()
    delegated, outside = delegation_counts(info)
    lines = [
        f"delegation summary: {info.num_delegated_subgraphs} delegated subgraph(s), "
        f"{info.num_delegated_nodes} node(s) to {backend}, "
        f"{sum(outside.values())} operator node(s) outside (portable kernels), "
        f"{boundary_crossings(result.graph_module)} tensor(s) crossing a delegate boundary"
    ]
    lines.append(f"  delegated op types: {_ops(delegated) or 'none'}")
    lines.append(f"  op types outside {backend}: {_ops(outside) or 'none'}")
    return "\n".join(lines)


def human_size(num_bytes: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if num_bytes < 1024 or unit == "GB":
            return f"{num_bytes:.0f} {unit}" if unit == "B" else f"{num_bytes:.1f} {unit}"
        num_bytes /= 1024
    return f"{num_bytes} B"
