"""Shared test fixtures. Exporting is the slow part, so each program is exported once per worker, and a
program file several test files ask for (``programs.get``) once per run."""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))



def pytest_configure(config):
    """Import the heavy, chatty modules once, quietly, where tests run: in each xdist worker, or
    in the one process of a run without workers. The controller of a distributed run collects
    and runs nothing: it starts its workers without spending seconds on imports first."""
    distributed_controller = getattr(config.option, "numprocesses", None) and not os.environ.get("PYTEST_XDIST_WORKER")
    if not distributed_controller:
        from examples.common.quiet import import_quietly

        import_quietly()


# Programs the tests take from the export CLI as a user runs it (the seed's command): the CLI's
# own test reads what it printed, every other test runs the same file (one mv2 export per run).
CLI_MADE = {("mv2", "fp32"): ("--model_name=mv2", "--delegate", "--print_graph")}
CLI_RECORD = "cli_run.json"


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

    def __init__(self, directory: Path, shared: Path | None = None):
        self.directory = directory
        self.shared = shared
        self._exported: dict[tuple[str, str], ExportedProgram] = {}
        self._models: dict[str, tuple] = {}
        self._made: dict[tuple[str, str], Path] = {}

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
            from examples.export.lowering import export_program, save_program
            from examples.export.names import pte_filename
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
        """The program file only: shared between the xdist workers of one run (``shared``), so
        a program several test files need (mv2 fp32) is exported once per run, not per worker.
        The programs in CLI_MADE come from the export CLI itself (see cli_made)."""
        key = (model_name, variant)
        if key in CLI_MADE:
            make = functools.partial(self._export_with_cli, model_name, variant)
        elif self.shared is None or key in self._exported:
            return self.exported(model_name, variant).path
        else:
            make = lambda: self.exported(model_name, variant).path  # noqa: E731
        return make() if self.shared is None else self._share(model_name, variant, make)

    def cli_made(self, model_name: str, variant: str) -> tuple[Path, dict]:
        """The run's program for a CLI_MADE key and what its export CLI run printed:
        ``{"returncode", "stdout", "stderr", "files"}`` (files: the output folder's listing)."""
        program = self.get(model_name, variant)
        return program, json.loads((program.parent / CLI_RECORD).read_text())

    def _export_with_cli(self, model_name: str, variant: str) -> Path:
        if (model_name, variant) in self._made:  # without xdist's shared folder: once per session
            return self._made[(model_name, variant)]
        out = self.directory / f"cli-{model_name}-{variant}"
        shutil.rmtree(out, ignore_errors=True)  # the listing is this run's files only
        torch_home = self.directory / "torch_home"  # empty: "auto" weights are random, as in the CLI tests
        torch_home.mkdir(exist_ok=True)
        env = dict(os.environ, PYTHONPATH=str(REPO_ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
                   TORCH_HOME=str(torch_home))
        done = subprocess.run([sys.executable, "-m", "examples.backend.xnnpack_examples", *CLI_MADE[(model_name, variant)],
                               "--output_dir", str(out)], cwd=REPO_ROOT, env=env, capture_output=True, text=True,
                              timeout=600)
        files = sorted(p.name for p in out.iterdir()) if out.is_dir() else []
        out.mkdir(exist_ok=True)
        record = {"returncode": done.returncode, "stdout": done.stdout, "stderr": done.stderr, "files": files}
        (out / CLI_RECORD).write_text(json.dumps(record))
        if done.returncode != 0:
            raise RuntimeError(f"the export CLI failed for {model_name} {variant}: {done.stderr[-2000:]}")
        self._made[(model_name, variant)] = out / next(f for f in files if f.endswith(".pte"))
        return self._made[(model_name, variant)]

    def _share(self, model_name: str, variant: str, source) -> Path:
        from filelock import FileLock

        self.shared.mkdir(exist_ok=True)
        with FileLock(str(self.shared / f"{model_name}-{variant}.lock")):
            done = self.shared / f"{model_name}-{variant}"  # a folder: the program, its card (and CLI record)
            failed = self.shared / f"{model_name}-{variant}.failed"  # one failure per run, not one per asker
            if failed.exists():
                raise RuntimeError(failed.read_text())
            if not done.is_dir():
                try:
                    program = source()
                except Exception as error:
                    failed.write_text(f"making {model_name} {variant} failed: {type(error).__name__}: {error}")
                    raise
                staging = self.shared / f"{model_name}-{variant}.tmp"
                staging.mkdir()
                for file in (program, program.with_name(program.name + ".json"), program.parent / CLI_RECORD):
                    if file.exists():
                        shutil.copy2(file, staging / file.name)
                staging.rename(done)
            return next(p for p in done.iterdir() if p.suffix == ".pte")


# The files that take longest (summed test time on a fresh clone), longest first: xdist's
# loadfile hands out files in collection order (pyproject's --no-loadscope-reorder: by default
# xdist re-sorts files by their number of tests), so starting these first leaves short files to
# fill the end of the run instead of one worker idling while the other finishes a long one.
LONGEST_FILES = ("test_cli_export.py", "test_generation.py", "test_transformers.py", "test_benchmark_main_job.py",
                 "test_text_classification.py", "test_accuracy_digits.py", "test_benchmark_harness.py",
                 "test_models_zoo.py", "test_openvino.py", "test_integrity.py",
                 "test_runner_profiling.py", "test_runner_cli.py", "test_new_user_regressions.py",
                 "test_verdict_calibration.py", "test_generation_limit.py", "test_bert_models.py",
                 "test_unverified_warning.py", "test_profiler_cli.py", "test_runner_limits.py",
                 "test_perf_config_quant.py", "test_generate_inputs.py", "test_tune.py")


def pytest_collection_modifyitems(items):
    rank = {name: i for i, name in enumerate(LONGEST_FILES)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: file order kept within


@pytest.fixture(scope="session")
def programs(tmp_path_factory) -> ProgramCache:
    # One folder per run (pytest-xdist names the run), beside the workers' own base folders.
    run = os.environ.get("PYTEST_XDIST_TESTRUNUID")
    shared = tmp_path_factory.getbasetemp().parent / f"shared-programs-{run}" if run else None
    return ProgramCache(tmp_path_factory.mktemp("programs"), shared)


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def python_env() -> dict:
    """Environment for CLI subprocesses: the repo on PYTHONPATH, no user site noise."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO_ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return env
