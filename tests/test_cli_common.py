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


def _command_modules(repo_root) -> list[str]:
    """Every user-facing command: the modules that end in ``cli.run(main)``."""
    found = []
    for folder in ("examples/backend", "examples/generation", "examples/export", "runtime/profiler"):
        for path in sorted((repo_root / folder).glob("*.py")):
            if "cli.run(main" in path.read_text():
                found.append(".".join(path.relative_to(repo_root).with_suffix("").parts))
    return found


def _flags_by_section(helpfull: str) -> dict[str, set[str]]:
    """``--helpfull`` parsed: module (section header) -> the flag names it lists."""
    import re

    sections, current = {}, None
    for line in helpfull.splitlines():
        if line and not line.startswith(" ") and line.endswith(":"):
            current = sections.setdefault(line[:-1], set())
        elif current is not None and (match := re.match(r"\s{2}(?:-\S,)?--(?:\[no\])?(\w+):", line)):
            current.add(match.group(1))
    return sections


def test_help_lists_every_flag_of_every_command(repo_root, python_env):
    """absl's --help shows only the main module's flags: flags defined in shared modules
    (sampling, evaluation, export) were hidden. absl's own flags stay under --helpfull."""
    import subprocess
    import sys

    modules = _command_modules(repo_root)
    assert {"examples.backend.generate", "examples.backend.xnnpack_examples"} <= set(modules)

    def start(module, flag):
        return subprocess.Popen([sys.executable, "-m", module, flag], cwd=repo_root, env=python_env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    runs = {(m, f): start(m, f) for m in modules for f in ("--help", "--helpfull")}
    out = {key: proc.communicate(timeout=120) for key, proc in runs.items()}
    for module in modules:
        assert runs[module, "--help"].returncode == 0, (module, out[module, "--help"][1])
        sections = _flags_by_section(out[module, "--helpfull"][0])
        ours = {flag for section, names in sections.items() if not section.startswith("absl") for flag in names}
        assert ours, (module, sections)
        shown = _flags_by_section(out[module, "--help"][0])
        shown_flags = set().union(*shown.values())
        assert ours <= shown_flags, (module, sorted(ours - shown_flags))
        assert "helpfull" not in shown_flags, module


# Runs a command's module as `python -m` does, then says whether torch was imported.
_RUN_AND_REPORT_TORCH = """
import runpy, sys
sys.argv = sys.argv[1:]
code = "returned"
try:
    runpy.run_module(sys.argv[0], run_name="__main__", alter_sys=True)
except SystemExit as done:
    code = done.code
print("torch imported:", "torch" in sys.modules, "exit:", code)
"""


@pytest.mark.parametrize("args", [
    ("examples.backend.xnnpack_examples", "--model_name", "mv22"),
    ("examples.backend.xnnpack_examples", "--list_models"),
    ("examples.backend.tune", "--model_name", "nope"),
    ("examples.backend.benchmark", "--models", "nope"),
    ("examples.backend.openvino_examples", "--model_name", "nope"),
])
def test_bad_model_names_are_answered_before_torch_is_imported(args, python_env, repo_root):
    """A typo costs a tenth of a second, not the seconds of importing torch: the zoo imports a
    model's factory when the model is built."""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", _RUN_AND_REPORT_TORCH, *args], cwd=repo_root, env=python_env,
                          capture_output=True, text=True, timeout=120)
    assert done.stdout.splitlines()[-1] == f"torch imported: False exit: {0 if '--list_models' in args else 2}", (
        done.stdout, done.stderr)


def test_executorch_reads_its_operator_yaml_with_libyaml():
    """Importing executorch.exir (every export, the Python runtime) parses its edge-dialect YAML
    with ruamel.yaml's safe loader: libyaml's parser (ruamel.yaml.clib) instead of pure Python
    saves each such process about 0.5 s."""
    from ruamel.yaml import YAML
    from ruamel.yaml.main import CParser

    assert CParser is not None and YAML(typ="safe").Parser is CParser
