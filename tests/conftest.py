"""Shared test fixtures. Exporting is the slow part, so each program is exported once per session."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from examples.common.quiet import import_quietly  # noqa: E402

import_quietly()


@dataclass
class ExportedProgram:
    path: Path
    result: object  # examples.export.lowering.ExportResult
    model: object  # the eager torch.nn.Module
    example_inputs: tuple


class ProgramCache:
    """Exports zoo models on first request and hands out the same files afterwards.

    Variants: ``fp32`` (XNNPACK, float), ``q8`` (XNNPACK, quantized with the model's recipe,
    calibrated on its example inputs) and ``portable`` (no delegate, float).
    Weights are random: these programs test plumbing and numerics against eager PyTorch,
    not accuracy.
    """

    VARIANTS = ("fp32", "q8", "portable")

    def __init__(self, directory: Path):
        self.directory = directory
        self._exported: dict[tuple[str, str], ExportedProgram] = {}
        self._models: dict[str, tuple] = {}

    def eager(self, model_name: str):
        if model_name not in self._models:
            import warnings

            from examples.models.weights import load_model
            from examples.models.zoo import resolve_model

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                loaded = load_model(resolve_model(model_name), "random")
            self._models[model_name] = (loaded.model, loaded.example_inputs)
        return self._models[model_name]

    def exported(self, model_name: str, variant: str) -> ExportedProgram:
        if variant not in self.VARIANTS:
            raise ValueError(f"unknown variant {variant!r}")
        key = (model_name, variant)
        if key not in self._exported:
            from examples.export.lowering import export_program, pte_filename, save_program
            from examples.models.zoo import resolve_model
            from examples.quantization.recipes import get_recipe

            model, inputs = self.eager(model_name)
            delegate = variant != "portable"
            recipe = get_recipe(resolve_model(model_name).quant_recipe) if variant == "q8" else None
            result = export_program(model, inputs, delegate=delegate, recipe=recipe)
            path = self.directory / pte_filename(model_name, "xnnpack" if delegate else "portable",
                                                 "q8" if recipe is not None else "fp32")
            save_program(result, path, model=model_name)
            self._exported[key] = ExportedProgram(path, result, model, inputs)
        return self._exported[key]

    def get(self, model_name: str, variant: str) -> Path:
        return self.exported(model_name, variant).path


# Test files that use the same expensive session programs run on one xdist worker, so each is
# exported once per run (the programs cache is per worker). Every other file is a group of its
# own: --dist loadgroup (pyproject.toml) then places whole files, as loadfile would.
SHARED_PROGRAM_GROUPS = {
    "mv2_fp32": ("test_runner_cli.py", "test_profiler_runner.py", "test_models_zoo.py"),
}


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the groups
def pytest_collection_modifyitems(items):
    for item in items:
        name = item.path.name
        group = next((g for g, files in SHARED_PROGRAM_GROUPS.items() if name in files), name)
        item.add_marker(pytest.mark.xdist_group(group))


@pytest.fixture(scope="session")
def programs(tmp_path_factory) -> ProgramCache:
    return ProgramCache(tmp_path_factory.mktemp("programs"))


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def python_env() -> dict:
    """Environment for CLI subprocesses: the repo on PYTHONPATH, no user site noise."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO_ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return env
