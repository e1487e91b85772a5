"""examples.common.cli: known errors -> one stderr line + exit code, no traceback."""

from __future__ import annotations

import pytest

from examples.common import cli


@pytest.mark.parametrize("error, code, text", [
    (cli.UsageError("bad flag value"), 2, "error: bad flag value"),
    (cli.CliError("export failed\nmore detail"), 1, "error: export failed"),
    (PermissionError(13, "Permission denied", "/out/x.pte"), 1, "error: Permission denied: /out/x.pte"),
    (KeyboardInterrupt(), 130, "error: interrupted"),
    (RuntimeError("boom"), 1, "error: unexpected RuntimeError: boom (run with --verbose for the traceback)"),
])
def test_handle_errors(capsys, error, code, text):
    with pytest.raises(SystemExit) as exit_info:
        with cli.handle_errors():
            raise error
    assert exit_info.value.code == code
    assert capsys.readouterr().err.splitlines() == [text]


def test_library_input_errors_are_usage_errors(capsys):
    from examples.models.weights import WeightsError
    from examples.models.zoo import ModelLookupError
    from examples.quantization.calibration import CalibrationError

    for error in (ModelLookupError("m"), WeightsError("w"), CalibrationError("c")):
        assert cli.exit_code_for(error) == 2
    assert cli.exit_code_for(ValueError("x")) is None


def test_calibration_subset_spreads_over_class_folders(tmp_path):
    from examples.quantization.calibration import spread_over_folders

    files = [tmp_path / cls / f"{i}.png" for cls in ("a", "b", "c") for i in range(5)]
    picked = spread_over_folders(files, 4)
    assert [p.parent.name for p in picked] == ["a", "b", "c", "a"]
    assert spread_over_folders(files, 100) == sorted(files, key=lambda p: (int(p.stem), p.parent.name))


def test_unknown_quant_recipe_is_a_usage_error_in_both_clis(repo_root, python_env):
    import subprocess
    import sys

    for module in ("examples.backend.xnnpack_examples", "examples.backend.benchmark"):
        model_flag = "--model_name" if module.endswith("examples") else "--models"
        done = subprocess.run([sys.executable, "-m", module, model_flag, "add", "--quantize", "--quant_recipe", "bogus"]
                              if module.endswith("examples") else
                              [sys.executable, "-m", module, model_flag, "add", "--quant_recipe", "bogus"],
                              cwd=repo_root, env=python_env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 2, (module, done.stderr)
        assert done.stderr.strip().splitlines() == [
            "error: --quant_recipe: unknown quantization recipe 'bogus' (known: static_per_channel, "
            "static_per_tensor, static_per_channel_fp32_dw, dynamic_per_channel, dynamic_per_channel_linear)"]
