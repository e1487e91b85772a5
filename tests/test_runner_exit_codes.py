"""Both runners follow one exit-code table (runtime/executor_runner/exit_codes.h): unknown flag 2,
missing file 1, crash 3, timeout 4, verification 5, memory 6; each failure one `error:` line."""

from __future__ import annotations

import os
import shutil

import pytest

from examples.integrity import card as cards
from examples.runner import client
from tests.helpers_runner import (BUILD_DIR, CRASH, ERROR, MEMORY, TIMEOUT, USAGE, VERIFICATION, assert_error,
                                  ensure_runner)

RUNNERS = {"xnn_executor_runner": [], "text_generation_runner": ["--prompt_tokens=1"]}


@pytest.fixture(scope="module", params=sorted(RUNNERS))
def runner(request):
    binary = ensure_runner(BUILD_DIR).parent / request.param
    if not binary.exists():
        pytest.skip(f"{binary} is not built (./setup.sh)")
    return binary, RUNNERS[request.param]


@pytest.fixture(scope="module")
def program(programs):
    return programs.get("linear", "fp32")  # carded by save_program


def _run(runner, *args, env=None):
    binary, extra = runner
    import subprocess

    return subprocess.run([str(binary), *extra, *map(str, args)], capture_output=True, text=True, timeout=60,
                          env=dict(os.environ, **(env or {})))


def test_unknown_flag_is_usage(runner, program):
    assert_error(_run(runner, f"--model_path={program}", "--no_such_flag=1"), USAGE, "unknown flag --no_such_flag")


def test_missing_file_is_error(runner, tmp_path):
    assert_error(_run(runner, f"--model_path={tmp_path / 'missing.pte'}"), ERROR, "cannot open model file")


def test_crash_is_guarded(runner, program):
    assert_error(_run(runner, f"--model_path={program}", env={"XNN_RUNNER_TEST_CRASH": "1"}), CRASH,
                 "the ExecuTorch runtime crashed (SIGSEGV)")


def test_timeout(runner, program, tmp_path):
    fifo = tmp_path / "never"
    os.mkfifo(fifo)  # nobody writes it: the run waits there until the watchdog ends it
    assert_error(_run(runner, f"--model_path={program}", "--timeout_s=0.5", env={"XNN_RUNNER_TEST_PAUSE": str(fifo)}),
                 TIMEOUT, "timed out after 0.5 s")


def test_verification(runner, program, tmp_path):
    copy = tmp_path / program.name
    shutil.copyfile(program, copy)
    card = cards.read_card(program)
    card["program"]["ranges"][0]["blake3"] = "0" * 64
    cards.write_card(copy, card)
    assert_error(_run(runner, f"--model_path={copy}", "--verify_cache=off"), VERIFICATION, "does not match its card")


@pytest.fixture(scope="module")
def big_weights(tmp_path_factory):
    """One delegated linear layer with 8 MiB of weights: more than the 4 MiB the test allows,
    exported in a second (a real network would spend most of this file's time exporting)."""
    import torch

    from examples.export.lowering import export_program, save_program

    torch.manual_seed(0)
    model = torch.nn.Linear(1024, 2048).eval()
    path = tmp_path_factory.mktemp("big") / "linear_8mib.pte"
    return save_program(export_program(model, (torch.randn(1, 1024),)), path, model="linear_8mib")


def test_memory(runner, big_weights):
    assert_error(_run(runner, f"--model_path={big_weights}", "--max_memory_mb=4"), MEMORY, "out of memory while",
                 "--max_memory_mb=4")


def test_the_table_is_the_clients():
    assert {code: kind for code, (kind, _) in client.EXIT_CODES.items()} == {
        0: "ok", ERROR: "error", USAGE: "usage", CRASH: "crash", TIMEOUT: "timeout", VERIFICATION: "verification",
        MEMORY: "memory"}


def test_memory_is_bounded_by_default(runner, program):
    """Without --max_memory_mb the watchdog bounds resident memory (a runaway allocation of 1 GiB
    by a program that needs kilobytes ends with exit 6); --max_memory_mb=0 lifts the bound."""
    runaway = {"XNN_RUNNER_TEST_ALLOCATE_MB": "1024"}
    assert_error(_run(runner, f"--model_path={program}", env=runaway), MEMORY, "passed the bound of",
                 "0 turns it off")
    unbounded = _run(runner, f"--model_path={program}", "--max_memory_mb=0", env=runaway)
    assert unbounded.returncode != MEMORY, unbounded.stderr


def test_help_shows_the_runners_own_flags(runner):
    """--help: the runner's flags, each on one line, not gflags' internal list (--helpfull has it)."""
    done = _run(runner, "--help")
    assert done.returncode == 0, done.stderr
    flag_lines = [line for line in done.stdout.splitlines() if line.startswith("  --")]
    assert any(line.startswith("  --model_path  ") for line in flag_lines), done.stdout
    assert any(line.startswith("  --verify_program  ") for line in flag_lines), done.stdout
    assert "tab_completion" not in done.stdout and "flagfile" not in done.stdout
