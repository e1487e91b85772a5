"""Check-to-use: bytes checked against the program card are the bytes the runtime computes with.

Another process rewrites the program in place at the worst moment (after the card check, before
the runtime's first read: the runner's XNN_RUNNER_TEST_PAUSE hook holds it there). A run may
fail (exit 5), or compute with the bytes that were checked; it must never exit 0 with outputs
of the rewritten, unchecked bytes. The same for the in-process (Python) path.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from examples.integrity import card as cards
from examples.integrity.layout import program_ranges
from examples.runner import client
from tests.helpers_runner import (BUILD_DIR, VERIFICATION, attacked_run, ensure_runner, program_copies,
                                  short_fresh_window, wait_until_not_fresh)

pytestmark = pytest.mark.usefixtures("short_fresh_window")


@pytest.fixture(scope="session")
def runner() -> Path:
    return ensure_runner(BUILD_DIR)


@pytest.fixture(scope="session")
def weighted(programs, tmp_path_factory):
    """Linear(32, 16), XNNPACK fp32 (weights in their own segment; the run's shared file), and
    its input file."""
    _, inputs = programs.eager("linear")
    folder = tmp_path_factory.mktemp("check_to_use_inputs")
    return programs.get("linear", "fp32"), client.write_input_files(list(inputs), folder)


def _rewritten(data: bytes) -> tuple[int, bytes]:
    """(offset, new bytes): the largest segment (the weights) with every float's sign flipped
    (its padding too: harmless, it is never read)."""
    offset, size = max(program_ranges(data)[1:], key=lambda r: r[1])
    chunk = bytearray(data[offset:offset + size])
    for i in range(3, len(chunk), 4):
        chunk[i] ^= 0x80
    return offset, bytes(chunk)


def _campaign(runner, weighted, tmp_path: Path, cache_mode: str, runs: int) -> None:
    program, inputs = weighted
    offset, evil = _rewritten(program.read_bytes())
    pristine = client.run_raw(runner, f"--model_path={program}", f"--input_path={inputs[0]}",
                              f"--output_path={tmp_path / 'pristine'}", "--num_iters=1", "--warmup_iters=0")
    assert pristine.returncode == 0, pristine.stderr
    expected = client.read_output_files(tmp_path / "pristine")
    cache = str(tmp_path / "cache") if cache_mode == "on" else "off"
    copies = program_copies(tmp_path / "copies", program, runs)
    if cache_mode == "on":  # remembered only once not fresh, so each attack is a cache hit
        wait_until_not_fresh()
        for copy in copies:
            assert client.run_raw(runner, f"--model_path={copy}", "--num_iters=1", "--warmup_iters=0",
                                  f"--verify_cache={cache}").returncode == 0
    unverified = 0
    for i, copy in enumerate(copies):
        def attack(copy=copy):
            with open(copy, "r+b") as f:
                f.seek(offset)
                f.write(evil)
        done = attacked_run(runner, copy, inputs, tmp_path / f"out{i}", cache, attack)
        assert done.returncode in (0, VERIFICATION), done.stderr
        if done.returncode == 0:
            outputs = client.read_output_files(tmp_path / f"out{i}")
            unverified += not all(np.array_equal(a, b) for a, b in zip(outputs, expected))
        else:
            # Caught where the bytes are read (the digest of the range), not only by the last re-check.
            assert len(done.stderr.splitlines()) == 1 and "does not match its card: bytes [" in done.stderr, done.stderr
    # The rewrite matters: the rewritten program, unchecked, answers differently.
    evil_run = client.run_raw(runner, f"--model_path={copies[0]}", f"--input_path={inputs[0]}",
                              f"--output_path={tmp_path / 'evil'}", "--num_iters=1", "--warmup_iters=0",
                              "--verify_program=off")
    assert evil_run.returncode == 0, evil_run.stderr
    assert not np.array_equal(client.read_output_files(tmp_path / "evil")[0], expected[0])
    assert unverified == 0, f"{unverified} of {runs} runs exited 0 with outputs of unverified bytes"


@pytest.mark.parametrize("cache_mode", ["on", "off"])
def test_runner_never_computes_with_bytes_rewritten_after_the_check(runner, weighted, tmp_path, cache_mode):
    _campaign(runner, weighted, tmp_path, cache_mode, runs=20)


@pytest.mark.slow
@pytest.mark.parametrize("cache_mode", ["on", "off"])
def test_runner_never_computes_with_rewritten_bytes_200_runs(runner, weighted, tmp_path, cache_mode):
    _campaign(runner, weighted, tmp_path, cache_mode, runs=200)


def test_the_pause_holds_a_cache_hit(runner, weighted, tmp_path):
    """The attack above meets the cached path: unattacked, the paused run is a verified cache hit."""
    program, inputs = weighted
    (copy,) = program_copies(tmp_path / "copies", program, 1)
    wait_until_not_fresh()
    cache = str(tmp_path / "cache")
    assert client.run_raw(runner, f"--model_path={copy}", f"--verify_cache={cache}", "--num_iters=1").returncode == 0
    done = attacked_run(runner, copy, inputs, tmp_path / "out", cache, lambda: None)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["verification"] == "verified" and report["verify_cached"]


def test_python_path_computes_with_the_checked_bytes(programs, weighted, tmp_path, monkeypatch):
    """In-process loads (evaluation's python engine, python_runtime.load_method) hand the runtime
    the bytes they checked: a rewrite of the file between the check and the load changes nothing."""
    import torch
    from executorch.runtime import Runtime

    from examples.evaluation.accuracy import PythonRuntimeProgram
    from examples.runner.python_runtime import load_method

    program, _ = weighted
    inputs = list(programs.eager("linear")[1])
    (copy,) = program_copies(tmp_path / "copies", program, 1)
    pristine = copy.read_bytes()
    offset, evil = _rewritten(pristine)
    real_load = Runtime.load_program
    expected = real_load(Runtime.get(), pristine).load_method("forward").execute(inputs)[0]
    assert not torch.equal(real_load(Runtime.get(), pristine[:offset] + evil + pristine[offset + len(evil):])
                           .load_method("forward").execute(inputs)[0], expected)  # the rewrite matters

    def rewrite_then_load(self, source, *args, **kwargs):  # the worst moment: checked, not yet loaded
        with open(copy, "r+b") as f:
            f.seek(offset)
            f.write(evil)
        return real_load(self, source, *args, **kwargs)

    monkeypatch.setattr(Runtime, "load_program", rewrite_then_load)
    runs = {"load_method": lambda: load_method(copy).execute(inputs)[0],
            "evaluation": lambda: PythonRuntimeProgram(copy)(*inputs)}
    for name, run_once in runs.items():
        for _ in range(10):
            copy.write_bytes(pristine)
            assert torch.equal(run_once(), expected), name


def test_cards_without_ranges_still_work_and_bad_ranges_are_refused(runner, weighted, tmp_path):
    """A card written before ranges existed: the whole file is checked at once (still exit 5 on a
    changed byte). Ranges that do not fit the file: refused in one line, exit 5."""
    program, _ = weighted
    (copy,) = program_copies(tmp_path / "copies", program, 1)
    card = cards.read_card(program)
    old = json.loads(json.dumps(card))
    del old["program"]["ranges"]
    cards.write_card(copy, old)
    done = client.run_raw(runner, f"--model_path={copy}", "--num_iters=1", "--json", "--verify_cache=off")
    assert done.returncode == 0 and json.loads(done.stdout)["verification"] == "verified", done.stderr
    data = bytearray(copy.read_bytes())
    data[-8] ^= 0x40
    copy.write_bytes(bytes(data))
    done = client.run_raw(runner, f"--model_path={copy}", "--num_iters=1", "--verify_cache=off")
    assert done.returncode == VERIFICATION and "does not match its card" in done.stderr, done.stderr
    copy.write_bytes(program.read_bytes())
    card["program"]["ranges"][-1]["size"] += 1  # past the end of the file
    cards.write_card(copy, card)
    done = client.run_raw(runner, f"--model_path={copy}", "--num_iters=1", "--verify_cache=off")
    assert done.returncode == VERIFICATION and "unusable program.ranges" in done.stderr, done.stderr
    assert len(done.stderr.splitlines()) == 1


@pytest.mark.parametrize("cache_mode", ["on", "off"])
def test_a_change_after_the_last_load_fails_the_run(runner, weighted, tmp_path, cache_mode):
    """Every byte was checked as read, but a file that changed while it was being loaded is not
    the program its card names any more: after the last load the runner looks again (exit 5)."""
    program, inputs = weighted
    (copy,) = program_copies(tmp_path / "copies", program, 1)
    cache = str(tmp_path / "cache") if cache_mode == "on" else "off"
    if cache_mode == "on":
        wait_until_not_fresh()
        assert client.run_raw(runner, f"--model_path={copy}", f"--verify_cache={cache}").returncode == 0

    def touch_in_place():
        with open(copy, "r+b") as f:
            f.write(f.read(16))  # the same bytes: only the ctime moves
    done = attacked_run(runner, copy, inputs, tmp_path / "out", cache, touch_in_place, hook="XNN_RUNNER_TEST_PAUSE_LAST")
    assert done.returncode == VERIFICATION and "changed (size, mtime or ctime) while it was being loaded" in done.stderr, \
        done.stderr
