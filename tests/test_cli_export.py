"""The export CLIs, run as a user would: ``python -m ...`` in a subprocess from the repo root."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tests.export_helpers import assert_close_to_eager, run_pte

XNNPACK = "examples.backend.xnnpack_examples"
PORTABLE = "examples.backend.export_example"


@pytest.fixture(scope="module")
def torch_home(tmp_path_factory) -> Path:
    """An empty torch hub cache: 'auto' means random, 'pretrained' finds nothing (unless a test puts it there)."""
    return tmp_path_factory.mktemp("torch_home")


@pytest.fixture
def cli(repo_root, python_env, torch_home):
    def run(module, *args, env=None):
        full_env = dict(python_env, TORCH_HOME=str(torch_home), **(env or {}))
        proc = subprocess.run([sys.executable, "-m", module, *map(str, args)], cwd=repo_root, env=full_env,
                              capture_output=True, text=True, timeout=600)
        assert "Traceback" not in proc.stderr, proc.stderr
        return proc

    return run


def one_error(proc, code: int) -> str:
    """The CLI failed with ``code`` and said why in exactly one ``error:`` line on stderr."""
    assert proc.returncode == code, (proc.returncode, proc.stdout, proc.stderr)
    errors = [line for line in proc.stderr.splitlines() if line.strip()]
    errors = [line for line in errors if not line.startswith("warning: ")]
    assert len(errors) == 1 and errors[0].startswith("error: "), proc.stderr
    return errors[0]


# --- usage errors: fast, they fail before anything is exported ------------------------------------

def test_unknown_model_names_close_matches(cli, tmp_path):
    line = one_error(cli(XNNPACK, "--model_name", "mv22", "--output_dir", tmp_path), 2)
    assert "unknown model 'mv22'" in line and "mv2" in line and "--list_models" in line
    assert list(tmp_path.iterdir()) == []


def test_unwritable_output_dir(cli, tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    line = one_error(cli(XNNPACK, "--model_name=add", f"--output_dir={blocker}"), 2)
    assert "output dir" in line and "not a directory" in line
    line = one_error(cli(XNNPACK, "--model_name=add", f"--output_dir={blocker}/sub"), 2)
    assert "output dir" in line and "not writable" in line


def test_bad_flag_and_missing_model(cli):
    assert "bogus" in one_error(cli(XNNPACK, "--model_name=add", "--bogus"), 2)
    assert "--model_name is required" in one_error(cli(PORTABLE), 2)


def test_bad_weights_path(cli, tmp_path):
    line = one_error(cli(XNNPACK, "--model_name", "add", "--weights", tmp_path / "nope.pt", "--output_dir", tmp_path), 2)
    assert "weights file not found" in line


def test_list_models(cli):
    for module in (XNNPACK, PORTABLE):
        proc = cli(module, "--list_models")
        assert proc.returncode == 0 and "mv2" in proc.stdout and "static_per_channel" in proc.stdout


def test_factory_not_returning_a_module(cli, tmp_path):
    line = one_error(cli(XNNPACK, "--model_name", "tests.export_helpers:not_a_module", "--output_dir", tmp_path), 2)
    assert "must return (torch.nn.Module" in line


# --- errors after loading the model -------------------------------------------------------------

def test_calibration_folder_without_images(cli, tmp_path):
    (tmp_path / "calib").mkdir()
    (tmp_path / "calib" / "readme.txt").write_text("no images here")
    proc = cli(XNNPACK, "--model_name", "tests.export_helpers:factory", "--quantize",
               "--calibration_data", tmp_path / "calib", "--output_dir", tmp_path)
    assert "no images" in one_error(proc, 2)
    assert not list(tmp_path.glob("*.pte"))


@pytest.mark.slow
def test_quantize_failure_is_one_line(cli, tmp_path):
    proc = cli(XNNPACK, "--model_name", "tests.export_helpers:graph_break", "--quantize", "--output_dir", tmp_path)
    line = one_error(proc, 1)
    assert "quantizing 'tests_export_helpers_graph_break' with recipe static_per_channel failed" in line
    assert not list(tmp_path.iterdir())


def test_mismatched_weights_file(cli, tmp_path):
    torch.save({"linear.weight": torch.zeros(3, 3), "linear.bias": torch.zeros(3)}, tmp_path / "bad.pt")
    line = one_error(cli(XNNPACK, "--model_name", "linear", "--weights", tmp_path / "bad.pt",
                         "--output_dir", tmp_path), 2)
    assert "does not fit 'linear'" in line
    assert not list(tmp_path.glob("*.pte"))


def test_quantization_flags_without_quantize_are_ignored_with_a_warning(cli, tmp_path):
    """Each warned before anything slow (the weights that do not fit fail right after)."""
    torch.save({"linear.weight": torch.zeros(3, 3), "linear.bias": torch.zeros(3)}, tmp_path / "bad.pt")
    proc = cli(XNNPACK, "--model_name", "linear", "--weights", tmp_path / "bad.pt", "--calibration_data", tmp_path,
               "--quant_recipe", "static_per_tensor", "--num_calibration_samples", "4", "--output_dir", tmp_path)
    assert "does not fit 'linear'" in one_error(proc, 2)
    assert [line for line in proc.stderr.splitlines() if line.startswith("warning: ")] == [
        f"warning: --{flag} is only used with --quantize; ignored"
        for flag in ("calibration_data", "quant_recipe", "num_calibration_samples")]


def test_pretrained_not_cached(cli, tmp_path):
    line = one_error(cli(XNNPACK, "--model_name", "mv2", "--weights", "pretrained", "--output_dir", tmp_path), 2)
    assert "not available offline" in line and "--weights random" in line and "--weights PATH" in line


# --- successful exports -------------------------------------------------------------------------

@pytest.mark.slow
def test_weights_state_dict_file(cli, tmp_path):
    from examples.models.toy_models import Linear

    torch.manual_seed(123)
    model = Linear().eval()
    torch.save(model.state_dict(), tmp_path / "linear.pt")
    proc = cli(XNNPACK, "--model_name=linear", f"--weights={tmp_path / 'linear.pt'}", f"--output_dir={tmp_path}")
    assert proc.returncode == 0, proc.stderr
    assert f"weights: {tmp_path / 'linear.pt'}" in proc.stdout
    x = torch.randn(4, 32)
    (out,) = run_pte(tmp_path / "linear_xnnpack_fp32.pte", (x,))
    assert_close_to_eager(out, model(x).detach())


@pytest.mark.slow
def test_nodelegate_writes_portable_program(cli, tmp_path):
    proc = cli(XNNPACK, "--model_name", "add", "--nodelegate", "--output_dir", tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "delegation off" in proc.stdout and "executorch_call_delegate" not in proc.stdout
    assert "0 node(s) to XNNPACK" in proc.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["add.pte", "add.pte.json"]  # the program and its card
    from executorch.exir._serialize._program import deserialize_pte_binary

    program = deserialize_pte_binary((tmp_path / "add.pte").read_bytes())
    program = getattr(program, "program", program)
    assert all(not plan.delegates for plan in program.execution_plan)


@pytest.mark.slow
def test_portable_cli(cli, tmp_path):
    proc = cli(PORTABLE, "--model_name=add", "--output_dir", tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "exporting add as portable (no delegate) fp32" in proc.stdout
    assert (tmp_path / "add.pte").is_file()


@pytest.mark.slow
def test_mv2_fp32_cli(programs):
    """The seed's command. The run's mv2 program (programs.get) is this CLI run's output, so mv2
    is exported once per run (tests/conftest.py, CLI_MADE)."""
    _, run = programs.cli_made("mv2", "fp32")
    assert run["returncode"] == 0 and "Traceback" not in run["stderr"], run["stderr"]
    assert "warning: using RANDOM weights for 'mv2'" in run["stderr"]
    for text in ("exporting (torch.export)...", "lowering to XNNPACK...", "executorch_call_delegate",
                 "aten_convolution_default x52", "op types outside XNNPACK: none", "mv2_xnnpack_fp32.pte"):
        assert text in run["stdout"], text
    delegated = next(line for line in run["stdout"].splitlines() if "delegated op types:" in line)
    assert "linear" in delegated or "addmm" in delegated or "_mm_default" in delegated, delegated  # the classifier
    assert run["files"] == ["mv2_xnnpack_fp32.pte", "mv2_xnnpack_fp32.pte.json"]


@pytest.mark.slow
def test_user_factory_q8_with_image_calibration_and_etrecord(cli, tmp_path):
    """A user factory (module:function) quantized on an image folder, with an ETRecord, on a
    small conv net (the model does not matter). Calibration from a tensor file takes the same
    path after load_calibration, which test_export_quantization covers for every source."""
    from PIL import Image

    from tests.export_helpers import factory

    (tmp_path / "images").mkdir()
    for i in range(2):
        Image.new("RGB", (256, 300), (40 * i, 100, 200)).save(tmp_path / "images" / f"{i}.jpg")
    out = tmp_path / "out"
    proc = cli(XNNPACK, "--model_name", "tests.export_helpers:factory", "--quantize", "--delegate",
               "--calibration_data", tmp_path / "images", "--etrecord", out / "small.etrecord", "--output_dir", out)
    assert proc.returncode == 0, proc.stderr
    assert "quantizing with recipe static_per_channel..." in proc.stdout
    assert "calibrating on " in proc.stdout and "calibration samples used: 2" in proc.stdout
    assert "RANDOM" not in proc.stderr  # a user factory builds its own weights
    assert sorted(p.name for p in out.iterdir() if not p.name.endswith(".json")) == [
        "small.etrecord", "tests_export_helpers_factory_xnnpack_q8.pte"]
    _, inputs = factory()
    (result,) = run_pte(out / "tests_export_helpers_factory_xnnpack_q8.pte", inputs)
    assert result.shape == (1, 10)

    from executorch.devtools.etrecord import parse_etrecord

    assert parse_etrecord(str(out / "small.etrecord")).edge_dialect_program is not None


@pytest.mark.slow
def test_pretrained_from_hub_cache(cli, tmp_path, torch_home):
    """A checkpoint with torchvision's file name in $TORCH_HOME/hub/checkpoints is loaded offline;
    the delegated program gives eager's outputs for those weights (also the zoo's mv3 check:
    test_models_zoo does not export mv3 a second time)."""
    import os

    from examples.models.torchvision_compat import import_torchvision

    tv = import_torchvision()
    entry = tv.models.get_weight("MobileNet_V3_Small_Weights.IMAGENET1K_V1")
    torch.manual_seed(7)
    model = tv.models.mobilenet_v3_small().eval()
    with torch.no_grad():  # make it differ from the zoo's seed-0 random init
        model.classifier[-1].bias.add_(1.0)
    checkpoints = torch_home / "hub" / "checkpoints"
    checkpoints.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), checkpoints / os.path.basename(entry.url))
    try:
        proc = cli(XNNPACK, "--model_name", "mv3", "--weights", "pretrained", "--delegate", "--output_dir", tmp_path)
    finally:
        (checkpoints / os.path.basename(entry.url)).unlink()
    assert proc.returncode == 0, proc.stderr
    assert "weights: pretrained" in proc.stdout and "RANDOM" not in proc.stderr
    x = torch.randn(1, 3, 224, 224)
    (out,) = run_pte(tmp_path / "mv3_xnnpack_fp32.pte", (x,))
    with torch.no_grad():
        assert_close_to_eager(out, model(x))


def test_help_lists_all_flags(cli):
    proc = cli(XNNPACK, "--help")
    assert proc.returncode == 0
    for flag in ("--model_name", "--[no]quantize", "--[no]delegate", "--output_dir", "--weights",
                 "--num_calibration_samples", "--calibration_data", "--etrecord", "--[no]list_models", "--[no]verbose"):
        assert flag in proc.stdout, flag
