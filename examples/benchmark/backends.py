"""The backends the benchmark knows, in report order, and the iterations each one runs."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Backend:
    name: str  # flag value and JSON "backend"
    label: str  # Markdown / chart label (the classic table's wording for ExecuTorch rows)
    kind: str  # "executorch" (native runner) or "peer"
    variant: str  # cache variant: "portable", "fp32", "q8", "openvino_fp32", "onnx_fp32", "ov_f32", "eager", ...
    precision: str | None = None  # what it computes in, where fixed; OpenVINO rows report theirs at run time
    runner: str = "wheel"  # ExecuTorch rows: the runner build, "wheel" (cmake-out) or "source+amx" (cmake-out-amx)
    # The quantization flags its preparation reads (examples/benchmark/prepare.py, tune's tuned row).
    reads: tuple[str, ...] = ()


CALIBRATION = ("calibration_data", "num_calibration_samples")
RECIPE = CALIBRATION + ("quant_recipe",)


BACKENDS: dict[str, Backend] = {
    b.name: b
    for b in (
        Backend("portable", "portable", "executorch", "portable", "fp32"),
        Backend("xnnpack_fp32", "xnnpack fp32", "executorch", "fp32", "fp32"),
        Backend("xnnpack_q8", "xnnpack q8", "executorch", "q8", "int8", reads=RECIPE),
        # The same q8 program through the runner whose XNNPACK delegate is built from source with
        # AMX kernels (cmake/xnnpack_from_source.cmake): the build, not the program, differs.
        Backend("xnnpack_q8_amx", "xnnpack q8 (AMX build)", "executorch", "q8", "int8", runner="source+amx",
                reads=RECIPE),
        # ExecuTorch + OpenVINO delegate, run by the native runner.
        Backend("openvino_fp32", "executorch+openvino fp32", "executorch", "openvino_fp32"),
        Backend("openvino_int8", "executorch+openvino int8", "executorch", "openvino_int8", reads=CALIBRATION),
        # tune's winner for each thread count (--tuned): the program tune would pick on this CPU.
        Backend("tuned", "executorch tuned", "executorch", "tuned", reads=CALIBRATION),
        Backend("ort_fp32", "onnxruntime fp32", "peer", "onnx_fp32", "fp32"),
        Backend("ort_int8", "onnxruntime int8 (QDQ)", "peer", "onnx_int8", "int8", reads=RECIPE),
        # Native OpenVINO (its own process): the CPU plugin's default precision, forced f32, NNCF int8.
        Backend("ov_default", "openvino native default", "peer", "ov_fp32"),
        Backend("ov_f32", "openvino native f32", "peer", "ov_fp32"),
        Backend("ov_int8", "openvino native int8 (NNCF)", "peer", "ov_int8", reads=CALIBRATION),
        Backend("eager", "eager pytorch", "peer", "eager", "fp32"),
    )
}
EXECUTORCH_XNNPACK = ("xnnpack_fp32", "xnnpack_q8", "xnnpack_q8_amx")
EXECUTORCH_OPENVINO = ("openvino_fp32", "openvino_int8")
# What "best ExecuTorch" is chosen from (portable is the baseline, not a contender).
EXECUTORCH_CONTENDERS = EXECUTORCH_XNNPACK + EXECUTORCH_OPENVINO + ("tuned",)
# Not part of "all": asked for with --tuned, or by name (the AMX build needs an ExecuTorch checkout).
OPT_IN = ("tuned", "xnnpack_q8_amx")
PEERS = ("ort_fp32", "ort_int8", "ov_default", "ov_f32", "ov_int8", "eager")


def rows_reading(flag: str) -> tuple[str, ...]:
    """The backends that read a row-specific flag: --runner (every ExecuTorch row), --amx_runner
    (the AMX build's rows), the quantization flags (``Backend.reads``)."""
    if flag == "runner":  # the AMX build's row too: its program is evaluated in --runner's build
        return tuple(name for name, b in BACKENDS.items() if b.kind == "executorch")
    if flag == "amx_runner":
        return tuple(name for name, b in BACKENDS.items() if b.runner == "source+amx")
    return tuple(name for name, b in BACKENDS.items() if flag in b.reads)


@dataclass(frozen=True)
class Iterations:
    """Classic methodology: iteration 1 reported alone; ``warmup`` iterations dropped
    (iteration 1 among them); the mean etc. of the next ``measured`` iterations."""

    warmup: int
    measured: int

    def describe(self) -> str:
        return f"{self.warmup} warm-up + {self.measured} measured"


@dataclass(frozen=True)
class RunPlan:
    """How one row is measured: the runner binary (ExecuTorch rows; None for peers), its
    iterations and the time limit of one run."""

    runner: Path | None
    iterations: Iterations
    timeout_s: float


def parse_backends(text: str) -> list[str]:
    """``"xnnpack_fp32,ort_fp32"`` -> names in report order; ``"all"`` -> every backend."""
    names = [n.strip() for n in text.split(",") if n.strip()]
    if names == ["all"]:
        return [n for n in BACKENDS if n not in OPT_IN]
    unknown = [n for n in names if n not in BACKENDS]
    if unknown or not names:
        raise ValueError(f"unknown backend(s) {', '.join(unknown) or '(none given)'}; known: all, {', '.join(BACKENDS)}")
    return [n for n in BACKENDS if n in names]
