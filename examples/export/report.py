"""Human readable reports on an exported program: lowered graph and delegation summary."""

from __future__ import annotations

# Graph plumbing that is never an operator: reading a delegate's outputs.
PLUMBING_OPS = ("getitem",)


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


def delegation_summary(result, backend: str = "XNNPACK") -> str:
    info = result.delegation_info()
    delegated, outside = delegation_counts(info)
    lines = [
        f"delegation summary: {info.num_delegated_subgraphs} delegated subgraph(s), "
        f"{info.num_delegated_nodes} node(s) to {backend}, "
        f"{sum(outside.values())} operator node(s) outside (portable kernels)"
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
