"""An ETRecord must belong to the profiled program. Two fully delegated CNNs (one delegate call
each, instruction 0: the Inspector maps either's ETRecord onto the other's ETDump without a
complaint) are exported with ``--etrecord`` by the export driver; the profile of one with the
ETRecord of the other is one ``error:`` line, exit 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from examples.runner import client
from tests.helpers_profiler import (assert_one_line_error, cli_in_process, conv_pool_conv, conv_relu_conv,
                                    run_with_etdump)

PROF_RUNNER = Path("cmake-out-prof") / "xnn_executor_runner"
CNNS = {"a": ("tests.helpers_profiler:conv_relu_conv", conv_relu_conv),
        "b": ("tests.helpers_profiler:conv_pool_conv", conv_pool_conv)}


@pytest.fixture(scope="module")
def cnns(tmp_path_factory):
    """name -> (program, its ETRecord), exported as ``xnnpack_examples --etrecord`` does."""
    from examples.export import export_cli

    folder = tmp_path_factory.mktemp("etrecord_cnns")
    made = {}
    for name, (reference, _) in CNNS.items():
        etrecord = folder / f"{name}_etrecord.bin"
        program = export_cli.run_export(export_cli.ExportRequest(model_name=reference, output_dir=str(folder),
                                                                 etrecord=str(etrecord)))
        made[name] = (program, etrecord)
    return made


def profile(cnns, name, source, repo_root, folder) -> Path:
    program = cnns[name][0]
    if source == "python":
        return run_with_etdump(program, CNNS[name][1]()[1], folder / "prof_result.bin")
    try:
        runner = client.find_runner(repo_root / PROF_RUNNER)
    except client.RunnerNotBuilt:
        pytest.skip(f"profiling runner not built: {PROF_RUNNER} is missing")
    client.run_program(runner, program.resolve(), iters=3, warmup=1, threads=1, timeout=300, cwd=folder)
    return folder / "prof_result.bin"


@pytest.mark.slow
@pytest.mark.parametrize("source", ["python", "runner"])
def test_the_etrecord_of_another_fully_delegated_cnn_is_refused(cnns, source, repo_root, tmp_path, capfd):
    (a_program, a_etrecord), (b_program, b_etrecord) = cnns["a"], cnns["b"]
    link = json.loads(Path(f"{a_etrecord}.json").read_text())
    assert link["program"]["file"] == a_program.name and link["signature"] == [
        "delegate: Convolution x2, Transpose x2"]
    etdump = profile(cnns, "a", source, repo_root, tmp_path)
    own = cli_in_process([f"--prof_results_bin={etdump}", f"--etrecord={a_etrecord}", "--warmup_iters=0",
                          f"--model_path={a_program}"], capfd)
    assert own.returncode == 0 and own.stderr == "", own.stderr
    assert "aten.convolution.default" in own.stdout and "max_pool" not in own.stdout

    other = cli_in_process([f"--prof_results_bin={etdump}", f"--etrecord={b_etrecord}"], capfd)
    assert_one_line_error(other, "this ETRecord does not match the ETDump",
                          "'delegate: Convolution x2, Transpose x2' in the ETDump but 'delegate: Convolution x2, "
                          "Max Pooling x1, Transpose x2' in the ETRecord's program")
    named = cli_in_process([f"--prof_results_bin={etdump}", f"--etrecord={b_etrecord}", f"--model_path={a_program}"],
                           capfd)
    assert_one_line_error(named, f"was exported with {b_program.name}", f"not with {a_program}")
