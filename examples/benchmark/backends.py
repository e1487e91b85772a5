"""The backends the benchmark knows, in report order, and the iterations each one runs."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Backend:
    name: str  # flag value and JSON "backend"
    label: str  # Markdown / chart label (the classic table's wording for ExecuTorch rows)
    kind: str  # "executorch" (native runner) or "peer"
    variant: str  # cache variant: "portable", "fp32", "q8", "onnx_fp32", "onnx_int8", "eager"


BACKENDS: dict[str, Backend] = {
    b.name: b
    for b in (
        Backend("portable", "portable", "executorch", "portable"),
        Backend("xnnpack_fp32", "xnnpack fp32", "executorch", "fp32"),
        Backend("xnnpack_q8", "xnnpack q8", "executorch", "q8"),
        Backend("ort_fp32", "onnxruntime fp32", "peer", "onnx_fp32"),
        Backend("ort_int8", "onnxruntime int8 (QDQ)", "peer", "onnx_int8"),
        Backend("eager", "eager pytorch", "peer", "eager"),
    )
}
EXECUTORCH_XNNPACK = ("xnnpack_fp32", "xnnpack_q8")
PEERS = ("ort_fp32", "ort_int8", "eager")


@dataclass(frozen=True)
class Iterations:
    """Classic methodology: iteration 1 reported alone; ``warmup`` iterations dropped
    (iteration 1 among them); the mean etc. of the next ``measured`` iterations."""

    warmup: int
    measured: int

    def describe(self) -> str:
        return f"{self.warmup} warm-up + {self.measured} measured"


def parse_backends(text: str) -> list[str]:
    """``"xnnpack_fp32,ort_fp32"`` -> names in report order; ``"all"`` -> every backend."""
    names = [n.strip() for n in text.split(",") if n.strip()]
    if names == ["all"]:
        return list(BACKENDS)
    unknown = [n for n in names if n not in BACKENDS]
    if unknown or not names:
        raise ValueError(f"unknown backend(s) {', '.join(unknown) or '(none given)'}; known: all, {', '.join(BACKENDS)}")
    return [n for n in BACKENDS if n in names]
