"""Every zoo model exports to an XNNPACK fp32 program that ExecuTorch runs like eager PyTorch.

Small models go through the session ``programs`` cache (other test files reuse them). The
big ones (resnet50, ic3, vit, dl3) are exported once here and dropped right after, so the
session never holds more than one of them; they take minutes, so they form their own tier
(``pytest -m zoo``), outside the default run.
"""

from __future__ import annotations

import gc
import warnings

import pytest
import torch

from examples.models.zoo import MODELS
from tests.export_helpers import assert_close_to_eager, run_pte

BIG = ("resnet50", "ic3", "vit", "dl3")


def _eager(model, inputs) -> torch.Tensor:
    with torch.no_grad():
        return model(*inputs)


# Exported and checked against eager elsewhere, not a second time here: bert_tiny in
# test_bert_models.py (at the sequence length the text tests use), mv3 in test_cli_export.py
# (through the CLI, with weights from the hub cache).
CHECKED_ELSEWHERE = ("bert_tiny", "mv3")


@pytest.mark.parametrize("name", [pytest.param(n, marks=() if "toy" in MODELS[n].tags else pytest.mark.slow)
                                  for n in MODELS if n not in BIG and n not in CHECKED_ELSEWHERE])
def test_small_model_fp32_matches_eager(programs, name):
    """The run's shared program file (programs.get): mv2's is the one test_runner_cli.py and the
    profiling tests run, exported once per run."""
    from executorch.exir._serialize._program import deserialize_pte_binary

    path = programs.get(name, "fp32")
    program = deserialize_pte_binary(path.read_bytes())
    assert any(plan.delegates for plan in getattr(program, "program", program).execution_plan)
    model, inputs = programs.eager(name)
    (out,) = run_pte(path, inputs)
    assert_close_to_eager(out, _eager(model, inputs))


@pytest.mark.slow
@pytest.mark.zoo  # minutes of export: its own tier (pytest -m zoo), not the default run
@pytest.mark.parametrize("name", BIG)
def test_big_model_fp32_matches_eager(tmp_path, name):
    from examples.export.lowering import export_program, save_program
    from examples.export.names import pte_filename
    from examples.models.weights import load_model

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        loaded = load_model(MODELS[name], "random")
    path = save_program(export_program(loaded.model, loaded.example_inputs),
                        tmp_path / pte_filename(name, "xnnpack", "fp32"))
    (out,) = run_pte(path, loaded.example_inputs)
    assert_close_to_eager(out, _eager(loaded.model, loaded.example_inputs))
    del loaded, out
    path.unlink()
    gc.collect()


@pytest.mark.slow
@pytest.mark.parametrize("name", ["mv2"])  # mv3 adds export time, not coverage (its recipe: test_perf_config_quant)
def test_portable_matches_eager(programs, name):
    exported = programs.exported(name, "portable")
    assert not exported.result.delegated
    assert "executorch_call_delegate" not in str(exported.result.graph_module.graph)
    (out,) = run_pte(exported.path, exported.example_inputs)
    assert_close_to_eager(out, _eager(exported.model, exported.example_inputs))


@pytest.mark.slow
@pytest.mark.zoo  # a full-size q8 export (about 25 s); q8 export, lowering and numerics on small nets:
# test_export_quantization.py, test_cli_export.py, and the runner's q8 check in test_runner_cli.py
@pytest.mark.parametrize("name", ["mv2"])
def test_q8_runs(programs, name):
    # Random weights: the q8 error of mv2/mv3 says nothing here (see test_export_quantization
    # for a numerics bound); this checks the zoo's quantized program is delegated and runs.
    exported = programs.exported(name, "q8")
    assert exported.result.quantized and exported.result.calibration_batches == 1
    (out,) = run_pte(exported.path, exported.example_inputs)
    expected = _eager(exported.model, exported.example_inputs)
    assert out.shape == expected.shape and torch.isfinite(out).all()
    assert exported.path.stat().st_size < programs.get(name, "fp32").stat().st_size / 2


def test_every_factory_the_zoo_names_exists():
    """The zoo names its factories (imported when a model is built): a misspelled name fails
    here, not when a big model is first built in the zoo tier."""
    import importlib

    named = [(spec.name, loader.target) for spec in MODELS.values()
             for loader in (spec.factory, spec.folder_loader) if loader is not None]
    assert len(named) > len(MODELS)  # bert_tiny's folder loader too
    for name, (module, attr) in named:
        assert callable(getattr(importlib.import_module(module), attr, None)), (name, module, attr)


def test_import_torchvision_works():
    from examples.models.torchvision_compat import import_torchvision

    tv = import_torchvision()
    assert callable(tv.models.mobilenet_v2)
    assert tv is import_torchvision()


def test_define_missing_torchvision_schemas_is_idempotent():
    from examples.models.torchvision_compat import _has_op, define_missing_torchvision_schemas, import_torchvision

    import_torchvision()
    assert define_missing_torchvision_schemas() == []
    assert define_missing_torchvision_schemas() == []
    assert _has_op("nms") and _has_op("qnms")


def test_zero_initialised_heads_get_random_weights():
    """torchvision zero-initialises ViT's classifier head: left so, every output is its bias and
    any program matches eager exactly. The zoo's random weights give such heads random values."""
    from examples.models.torchvision_models import randomize_zero_heads

    model = torch.nn.Sequential(torch.nn.Linear(8, 8), torch.nn.ReLU(), torch.nn.Linear(8, 4))
    torch.nn.init.zeros_(model[2].weight)
    torch.nn.init.zeros_(model[2].bias)
    first = model[0].weight.detach().clone()
    assert randomize_zero_heads(model) == ["2"]
    assert torch.equal(model[0].weight, first)  # layers with weights keep them
    x = torch.randn(2, 8, generator=torch.Generator().manual_seed(0))
    assert model(x).std() > 0


@pytest.mark.slow
def test_vit_random_weights_carry_signal_and_have_their_own_cache_key():
    from examples.benchmark.cache import weights_id

    spec = MODELS["vit"]
    model, (x,) = spec.factory(None)
    with torch.no_grad():
        out = model(torch.cat([x, -x]))
    assert float((out[0] - out[1]).abs().max()) > 1e-3  # outputs depend on the input
    assert weights_id("random", spec) != weights_id("random", MODELS["mv2"]) == "random"
