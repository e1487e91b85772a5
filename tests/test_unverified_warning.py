"""`auto` without a card says so: every Python path that loads or runs a program with verify
`auto` and no card beside it prints one `warning:` line naming the program and
`--verify_program=require`, as the native runner does, and goes on; `require`, `off` and a
carded program print nothing."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from examples.integrity import verify


@pytest.fixture
def bare(programs, tmp_path):
    """A copy of a small program with no card beside it (and its carded original)."""
    source = programs.get("linear", "fp32")
    copy = tmp_path / "bare" / source.name
    copy.parent.mkdir()
    shutil.copyfile(source, copy)
    verify._warned.clear()  # once per program and process: each test starts afresh
    return copy, source


def _warnings(text: str, program) -> list[str]:
    lines = [line for line in text.splitlines() if line.strip()]
    found = [line for line in lines if line.startswith("warning: ")]
    for line in found:
        assert str(program) in line and "--verify_program=require" in line and "no program card" in line, line
    return found


def test_verify_auto_without_a_card_warns_once(bare, capfd):
    program, carded = bare
    assert not verify.verify_program(program, "auto").trusted
    assert verify.read_verified(program, "auto")[1] == program.read_bytes()  # the same program again: once
    assert len(_warnings(capfd.readouterr().err, program)) == 1
    verify.verify_program(program, "off")
    verify.verify_program(carded, "auto")
    assert capfd.readouterr().err == ""


def test_python_runtime_auto_without_a_card_warns(bare, capfd):
    from examples.runner.python_runtime import load_method

    program, _ = bare
    method = load_method(program, verify="auto")
    assert method is not None
    assert len(_warnings(capfd.readouterr().err, program)) == 1


def test_evaluation_runner_engine_auto_without_a_card_warns(bare, capfd):
    from examples.evaluation.accuracy import EvaluationError, NativeRunnerProgram
    from tests.helpers_runner import BUILD_DIR, ensure_runner

    program, _ = bare
    try:
        NativeRunnerProgram(program, runner=ensure_runner(BUILD_DIR)).close()
    except EvaluationError as error:
        pytest.skip(str(error))
    assert len(_warnings(capfd.readouterr().err, program)) == 1


@pytest.mark.slow  # a Python generation process (torch and the runtime imported): default suite only
def test_generation_auto_without_a_card_warns_once(bare, python_env):
    """The generation CLI checks the file, then loads it: one warning for the two (the program is
    no language model, so the run ends with one error line after it)."""
    program, _ = bare
    done = subprocess.run([sys.executable, "-m", "examples.generation.token_runner", "--model_path", str(program),
                           "--prompt_tokens", "1"], capture_output=True, text=True, env=python_env, timeout=300)
    assert len(_warnings(done.stderr, program)) == 1, done.stderr
    others = [line for line in done.stderr.splitlines() if line.strip() and not line.startswith("warning: ")]
    assert len(others) == 1 and others[0].startswith("error: "), done.stderr


@pytest.mark.slow  # as above
def test_generation_with_a_card_does_not_warn(bare, python_env):
    """The generation CLI on a carded program prints no warning."""
    _, carded = bare
    done = subprocess.run([sys.executable, "-m", "examples.generation.token_runner", "--model_path", str(carded),
                           "--prompt_tokens", "1"], capture_output=True, text=True, env=python_env, timeout=300)
    assert not [line for line in done.stderr.splitlines() if line.startswith("warning: ")], done.stderr
