"""The programs tune tries: XNNPACK fp32, every applicable int8 recipe, and (where installed)
OpenVINO programs (f32, each reduced precision the CPU computes in, int8 with the rest in each).
Each candidate knows how to build itself through the one model -> program pipeline
(:mod:`examples.benchmark.programs`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from examples.quantization.recipes import RECIPES

DELEGATES = ("xnnpack", "openvino")


@dataclass(frozen=True)
class Candidate:
    name: str  # unique; the cache variant and the row name in tune.md
    delegate: str  # "xnnpack" or "openvino"
    precision: str  # "fp32", "int8", "bf16" ...: what the program computes in
    description: str
    recipe: str | None = None  # quantization recipe (RECIPES) for int8 XNNPACK programs
    openvino_precision: str | None = None  # INFERENCE_PRECISION_HINT an OpenVINO program asks for

    @property
    def accuracy_class(self) -> str:
        """fp32-class programs must match eager closely; int8-class ones are held to the budget."""
        return "fp32" if self.precision == "fp32" else "reduced"


def xnnpack_candidates() -> list[Candidate]:
    out = [Candidate("xnnpack_fp32", "xnnpack", "fp32", "XnnpackPartitioner, fp32")]
    for recipe in RECIPES.values():
        out.append(Candidate(f"xnnpack_q8_{recipe.name}", "xnnpack", "int8", recipe.description, recipe.name))
    return out


def openvino_candidates() -> list[Candidate]:
    """OpenVINO programs when the OpenVINO export path of the toolkit is importable: f32, then
    each reduced float precision this CPU computes in natively (bf16 with AVX512_BF16 / AMX, f16
    with AMX-FP16), and int8 with the rest in each of those."""
    try:
        from examples.export import openvino_lowering
        floats = openvino_lowering.supported_precisions()
    except ImportError:
        return []
    out = []
    for p in floats:
        kind = "fp32" if p == "f32" else p
        out.append(Candidate(f"openvino_{kind}", "openvino", kind, f"OpenvinoPartitioner, INFERENCE_PRECISION_HINT={p}",
                             openvino_precision=p))
    for p in floats:
        suffix = "" if p == "f32" else f"_{p}"
        out.append(Candidate(f"openvino_int8{suffix}", "openvino", "int8",
                             f"OpenVINOQuantizer (NNCF) + OpenvinoPartitioner, the rest in {p}", openvino_precision=p))
    return out


PROVIDERS: dict[str, Callable[[], list[Candidate]]] = {"xnnpack": xnnpack_candidates,
                                                      "openvino": openvino_candidates}


def candidates_for(delegates: list[str]) -> list[Candidate]:
    out: list[Candidate] = []
    for delegate in delegates:
        out.extend(PROVIDERS[delegate]())
    return out
