"""The programs tune tries: XNNPACK fp32, every applicable int8 recipe, partitioner options,
and (where installed) OpenVINO programs. Each candidate knows how to build itself through the
one model -> program pipeline (:mod:`examples.benchmark.programs`)."""

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
    """OpenVINO programs when the OpenVINO export path of the toolkit is importable."""
    try:
        from examples.export import openvino_lowering  # noqa: F401
    except ImportError:
        return []
    return [Candidate("openvino_fp32", "openvino", "fp32", "OpenvinoPartitioner, f32 inference precision"),
            Candidate("openvino_int8", "openvino", "int8", "OpenVINOQuantizer (NNCF) + OpenvinoPartitioner")]


PROVIDERS: dict[str, Callable[[], list[Candidate]]] = {"xnnpack": xnnpack_candidates,
                                                      "openvino": openvino_candidates}


def candidates_for(delegates: list[str]) -> list[Candidate]:
    out: list[Candidate] = []
    for delegate in delegates:
        out.extend(PROVIDERS[delegate]())
    return out
