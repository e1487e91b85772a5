"""Programs you can trust: cards, verification before running, inspect_program, reference IO
(BundledProgram) and a small seeded mutation campaign."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from examples.integrity import card as cards
from examples.integrity.verify import EXIT_VERIFICATION_FAILED, ProgramVerificationFailed, verify_program
from examples.runner import client
from tools.fuzz_programs import campaign
from tools.fuzz_programs.mutate import KINDS, mutations


def _carded_file(tmp_path: Path, data: bytes = b"\x00" * 64 + bytes(range(256)) * 4) -> Path:
    path = tmp_path / "p.pte"
    path.write_bytes(data)
    cards.write_card(path, cards.make_card(path, model="toy", backend="xnnpack", precision="fp32", methods={
        "forward": {"inputs": [{"dtype": "float32", "shape": [1, 4]}], "outputs": [{"dtype": "float32", "shape": [1, 2]}],
                    "delegates": []}}))
    return path


# ---------------------------------------------------------------- card and verification (no export)

def test_card_sits_beside_the_program_and_verifies(tmp_path):
    path = _carded_file(tmp_path)
    assert cards.card_path(path).name == "p.pte.json"
    card = cards.read_card(path)
    assert card["program"]["size_bytes"] == path.stat().st_size
    assert card["program"]["digest"]["algorithm"] == "blake3"
    assert card["program"]["digest"]["hex"] == cards.digest_bytes(path.read_bytes())
    result = verify_program(path, "require")
    assert result.trusted and result.status == "verified"


@pytest.mark.parametrize("damage,needle", [
    (lambda d: d[:-1], "truncated"),
    (lambda d: d[:100] + bytes([d[100] ^ 1]) + d[101:], "does not match its card"),
])
def test_damaged_copy_fails_with_exit_5(tmp_path, damage, needle):
    path = _carded_file(tmp_path)
    path.write_bytes(damage(path.read_bytes()))
    with pytest.raises(ProgramVerificationFailed, match=needle) as caught:
        verify_program(path, "auto")
    assert caught.value.exit_code == EXIT_VERIFICATION_FAILED == 5
    assert not verify_program(path, "off").trusted  # off: not checked, not refused


def test_modes_without_a_card(tmp_path):
    path = tmp_path / "nocard.pte"
    path.write_bytes(b"x" * 10)
    assert verify_program(path, "auto").status == "untrusted (no card)"
    with pytest.raises(ProgramVerificationFailed, match="no program card"):
        verify_program(path, "require")
    cards.card_path(path).write_text("{not json")
    with pytest.raises(ProgramVerificationFailed, match="not valid JSON"):
        verify_program(path, "auto")
    cards.card_path(path).write_text(json.dumps({"schema": "something else"}))
    with pytest.raises(ProgramVerificationFailed, match="not a program card"):
        verify_program(path, "auto")


def test_mutations_are_seeded_and_always_differ():
    data = bytes(range(256)) * 8
    first = list(mutations(data, 16, seed=3))
    assert first == list(mutations(data, 16, seed=3))
    assert first != list(mutations(data, 16, seed=4))
    assert all(blob != data for _, _, blob in first)
    assert [kind for _, kind, _ in first[:4]] == list(KINDS)


def test_classify_every_outcome():
    clean = [np.ones((1, 2), np.float32)]
    ran = lambda code, err="": client.RunnerExit(code, "", err, 0.1)  # noqa: E731
    assert campaign.classify(ran(5, "error: p.pte does not match its card"), None, clean) == "rejected_by_card"
    assert campaign.classify(ran(None), None, clean) == "hang"
    assert campaign.classify(ran(-11), None, clean) == "signal"
    assert campaign.classify(ran(3, "error: crashed"), None, clean) == "guarded_crash"
    assert campaign.classify(ran(1, "error: bad program\n"), None, clean) == "clean_error"
    assert campaign.classify(ran(1, "noise\nerror: bad\n"), None, clean) == "unclean_error"
    assert campaign.classify(ran(0), [np.ones((1, 2), np.float32)], clean) == "identical"
    assert campaign.classify(ran(0), [np.full((1, 2), 2, np.float32)], clean) == "silent"
    assert campaign.classify(ran(0), [np.ones((2, 1), np.float32)], clean) == "silent"


# ---------------------------------------------------------------- a real q8 program

@pytest.fixture(scope="session")
def carded_q8(programs, tmp_path_factory):
    """The toy 'add' model as an XNNPACK q8 program with its card, plus a bundled copy."""
    from examples.integrity.bundle import write_bundle

    exported = programs.exported("add", "q8")
    bundle = write_bundle(exported.path, exported.model, [exported.example_inputs])
    return exported, bundle


@pytest.mark.slow
def test_exported_program_card_describes_it(carded_q8):
    from examples.integrity.describe import card_methods, describe_program

    exported, _ = carded_q8
    card = cards.read_card(exported.path)
    assert (card["model"], card["backend"], card["precision"]) == ("add", "xnnpack", "q8")
    assert card["recipe"] == "static_per_tensor" and card["packages"]["executorch"]
    assert card["methods"] == card_methods(describe_program(exported.path.read_bytes()))
    assert card["methods"]["forward"]["inputs"] == [{"dtype": "float32", "shape": [1, 8]}] * 2
    assert verify_program(exported.path, "require").trusted


def _inspect(python_env, *args):
    return subprocess.run([sys.executable, "-m", "examples.backend.inspect_program", *map(str, args)],
                          capture_output=True, text=True, env=python_env, timeout=300)


@pytest.mark.slow
def test_inspect_program_and_a_card_that_lies(carded_q8, python_env, tmp_path):
    exported, _ = carded_q8
    done = _inspect(python_env, exported.path)
    assert done.returncode == 0, done.stderr
    assert "card: verified" in done.stdout and "float32[1, 8], float32[1, 8] -> outputs float32[1, 8]" in done.stdout
    # Same bytes, but the card claims other inputs: caught by comparing card and program.
    copy = tmp_path / exported.path.name
    copy.write_bytes(exported.path.read_bytes())
    card = cards.read_card(exported.path)
    card["methods"]["forward"]["inputs"][0]["shape"] = [1, 9]
    cards.write_card(copy, card)
    done = _inspect(python_env, copy)
    assert done.returncode == 5 and done.stderr.startswith("error: the card of") and len(done.stderr.splitlines()) == 1


def test_inspect_program_refuses_check_reference_without_verification(python_env, tmp_path):
    """--check_reference always verifies against the card: with --verify_program=off it is refused."""
    done = _inspect(python_env, "--verify_program=off", "--check_reference", tmp_path / "p.bpte")
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr == ("error: --check_reference always verifies the program against its card: "
                           "it cannot be combined with --verify_program=off\n")


@pytest.mark.slow
def test_inspect_program_json_holds_the_reference_check(carded_q8, python_env, tmp_path):
    """--json --check_reference: stdout is one JSON object, the reference check inside it; a drift
    still prints the object (ok false), then one error line and exit 7."""
    _, bundle = carded_q8
    done = _inspect(python_env, bundle, "--json", "--check_reference")
    assert done.returncode == 0, done.stderr
    check = json.loads(done.stdout)["reference_check"]
    assert check["ok"] is True and check["outputs"] >= 1 and check["worst_max_abs_error"] <= check["worst_allowed"]
    text = _inspect(python_env, bundle, "--check_reference")
    assert text.returncode == 0 and text.stdout.splitlines()[-1].startswith(
        f"reference IO: {check['outputs']} output(s) within tolerance (worst: max abs error "), text.stdout
    copy = _zero_tolerance_copy(bundle, tmp_path)
    drifted = _inspect(python_env, copy, "--json", "--check_reference")
    assert drifted.returncode == 7
    check = json.loads(drifted.stdout)["reference_check"]
    assert check["ok"] is False and "drifted from the reference" in check["error"]
    assert drifted.stderr.splitlines() == [f"error: {check['error']}"]


def _zero_tolerance_copy(bundle: Path, folder: Path) -> Path:
    """A copy of ``bundle`` whose card allows no error at all: q8 never reproduces eager exactly,
    so its reference check must fail."""
    copy = folder / bundle.name
    copy.write_bytes(bundle.read_bytes())
    card = cards.read_card(bundle)
    card["program"]["file"] = copy.name
    card["reference"]["tolerances"] = [{"atol": 0.0, "rtol": 0.0}]
    cards.write_card(copy, card)
    return copy


@pytest.mark.slow
def test_reference_io_passes_and_catches_drift(carded_q8, tmp_path):
    from examples.integrity.bundle import ReferenceMismatch, check_reference

    _, bundle = carded_q8
    checks = check_reference(bundle)
    assert checks and all(c.ok for c in checks)
    copy = _zero_tolerance_copy(bundle, tmp_path)
    with pytest.raises(ReferenceMismatch, match="drifted from the reference") as caught:
        check_reference(copy)
    assert caught.value.exit_code == 7


@pytest.fixture(scope="session")
def runner_binary():
    try:
        return client.find_runner()
    except client.RunnerNotBuilt:
        pytest.skip("native runner not built (./setup.sh)")


@pytest.mark.slow
def test_runner_client_refuses_a_damaged_copy_before_running(carded_q8, runner_binary, tmp_path):
    exported, _ = carded_q8
    inputs = client.write_input_files(list(exported.example_inputs), tmp_path / "in")
    ok = client.run_bounded(runner_binary, exported.path, inputs=inputs, output_path=tmp_path / "out",
                            timeout=60, verify="require")
    assert ok.returncode == 0, ok.stderr
    assert client.read_output_files(tmp_path / "out")[0].shape == (1, 8)
    damaged = tmp_path / exported.path.name
    data = bytearray(exported.path.read_bytes())
    data[len(data) // 2] ^= 0x10
    damaged.write_bytes(bytes(data))
    cards.card_path(damaged).write_bytes(cards.card_path(exported.path).read_bytes())
    with pytest.raises(ProgramVerificationFailed, match="does not match its card"):
        client.run_program(runner_binary, damaged, iters=1, warmup=0, threads=1, inputs=inputs)
    # The runner's own check, as a user calls it: one line, exit 5, and nothing of the program ran.
    done = client.run_raw(runner_binary, f"--model_path={damaged}", "--num_iters=1")
    assert done.returncode == 5 and done.stderr.count("\n") == 1 and "does not match its card" in done.stderr
    assert client.run_raw(runner_binary, f"--model_path={damaged}", "--num_iters=1",
                          "--verify_program=off").returncode in (0, 1, 3)


def _run_with_card(runner, program: Path, folder: Path, card: dict):
    """``program``'s bytes in ``folder`` with ``card`` beside them, run once by the runner."""
    folder.mkdir(exist_ok=True)
    copy = folder / program.name
    copy.write_bytes(program.read_bytes())
    cards.write_card(copy, card)
    return client.run_raw(runner, f"--model_path={copy}", "--num_iters=1", "--warmup_iters=0", "--json")


@pytest.mark.slow
def test_verify_cache_skips_the_hash_only_while_the_file_is_unchanged(carded_q8, runner_binary, tmp_path):
    """--verify_cache remembers a digest by (device, inode, size, mtime, ctime): an unchanged
    program is not hashed again; a file written less than 2 s ago is never remembered (a write
    in the same timestamp tick could hide); an in-place change, or a card naming another digest,
    is caught as before; off remembers nothing."""
    import time

    exported, _ = carded_q8
    folder, cache = tmp_path / "p", tmp_path / "cache"
    folder.mkdir()
    program = folder / exported.path.name
    program.write_bytes(exported.path.read_bytes())
    cards.write_card(program, cards.read_card(exported.path))

    def run(*flags):
        done = client.run_raw(runner_binary, f"--model_path={program}", "--num_iters=1", "--warmup_iters=0",
                              "--json", f"--verify_cache={cache}", *flags)
        return done, (json.loads(done.stdout) if done.returncode == 0 else None)

    _, fresh = run()
    assert fresh["verification"] == "verified" and not fresh["verify_cached"]
    assert not cache.exists() or not list(cache.iterdir())  # too fresh to remember
    time.sleep(2.2)
    assert not run()[1]["verify_cached"]  # hashed, and now remembered
    _, again = run()
    assert again["verification"] == "verified" and again["verify_cached"]
    assert not run("--verify_cache=off")[1]["verify_cached"]
    # The folder is bounded: past 1024 entries the least recently used go when one is written.
    crowded = tmp_path / "crowded"
    crowded.mkdir(mode=0o700)
    for i in range(1030):
        stale = crowded / f"0-{i}.json"
        stale.write_text("{}")
        os.utime(stale, (1_000_000 + i, 1_000_000 + i))
    done = client.run_raw(runner_binary, f"--model_path={program}", "--num_iters=1", "--warmup_iters=0",
                          f"--verify_cache={crowded}")
    assert done.returncode == 0, done.stderr
    left = {f.name for f in crowded.iterdir()}
    assert len(left) == 1024 and "0-0.json" not in left and "0-1029.json" in left
    assert any(not name.startswith("0-") for name in left)  # the new entry stayed
    # A card that names other digests is not satisfied by the remembered ones: neither another
    # digest of the whole file, nor another digest of one range.
    card = cards.read_card(program)
    good = json.loads(json.dumps(card))
    card["program"]["digest"]["hex"] = "0" * 64
    card["program"]["ranges"][-1]["blake3"] = "0" * 64
    cards.write_card(program, card)
    done, _ = run()
    assert done.returncode == 5 and "does not match its card" in done.stderr
    cards.write_card(program, good)
    # One flipped byte written in place (same inode, same size): its ctime moves, so it is hashed.
    with open(program, "r+b") as f:
        f.seek(program.stat().st_size // 2)
        byte = f.read(1)
        f.seek(-1, 1)
        f.write(bytes([byte[0] ^ 0x10]))
    done, _ = run()
    assert done.returncode == 5 and "does not match its card" in done.stderr, done.stderr


@pytest.mark.slow
def test_runner_checks_the_cards_method_signature_and_cpu_class(carded_q8, runner_binary, tmp_path):
    from examples.quantization.cpu_caps import detect

    exported, _ = carded_q8
    good = cards.read_card(exported.path)
    done = _run_with_card(runner_binary, exported.path, tmp_path / "good", good)
    assert done.returncode == 0 and json.loads(done.stdout)["verification"] == "verified", done.stderr
    # A card with only what identifies the program (no methods, no extra) verifies, and one whose
    # shapes are not lists of integers is one line: the runner never reads a key that is not there.
    minimal = {k: good[k] for k in ("schema", "schema_version", "program")}
    done = _run_with_card(runner_binary, exported.path, tmp_path / "minimal", minimal)
    assert done.returncode == 0 and json.loads(done.stdout)["verification"] == "verified", done.stderr
    odd = json.loads(json.dumps(good))
    odd["methods"]["forward"]["inputs"][0]["shape"] = "1x8"
    done = _run_with_card(runner_binary, exported.path, tmp_path / "odd", odd)
    assert done.returncode == 5 and "in a form this runner cannot read" in done.stderr
    lying = json.loads(json.dumps(good))
    lying["methods"]["forward"]["outputs"][0]["shape"] = [1, 9]
    done = _run_with_card(runner_binary, exported.path, tmp_path / "lying", lying)
    assert done.returncode == 5 and "output 0 is float32 [1, 8]; its card says float32 [1, 9]" in done.stderr
    # Ahead-of-time compiled code (OpenVINO's blob) runs only on the CPU class it was compiled for:
    # the runner's class string must equal Python's (cpu_caps), or every such program is refused.
    here = json.loads(json.dumps(good))
    here["extra"] = {"compiled_for": {"cpu_class": detect().cpu_class}}
    done = _run_with_card(runner_binary, exported.path, tmp_path / "here", here)
    assert done.returncode == 0, done.stderr
    elsewhere = json.loads(json.dumps(good))
    elsewhere["extra"] = {"compiled_for": {"cpu_class": "x86_64 avx2 fma avx512f avx512bw amx_int8"}}
    done = _run_with_card(runner_binary, exported.path, tmp_path / "elsewhere", elsewhere)
    assert done.returncode == 5 and "for CPU class 'x86_64 avx2 fma avx512f avx512bw amx_int8'" in done.stderr


@pytest.mark.slow
def test_seeded_campaign_with_the_card_has_no_silent_hang_or_signal(carded_q8, runner_binary, tmp_path):
    """A small campaign (the issue's goal is 10,000 mutations; this busy machine runs 200 in a few seconds)."""
    exported, bundle = carded_q8
    inputs, reference = campaign.load_reference(bundle, tmp_path / "in")
    settings = campaign.Settings(runner_binary, timeout_s=15, max_memory_mb=4096, workers=2)
    report = campaign.run_campaign(exported.path, inputs, count=200, seed=20261125, settings=settings,
                                   repro_dir=tmp_path / "cases", reference=reference)
    with_card, without = report["outcomes"]["card"], report["outcomes"]["off"]
    assert with_card["silent"] == with_card["hang"] == with_card["signal"] == 0
    assert with_card["rejected_by_card"] == 200, with_card  # every damaged copy is refused before any kernel runs
    assert sum(without.values()) == 200 and without["rejected_by_card"] == 0
    assert without["signal"] == 0
    for case in report["cases"]:  # anything not clean left a reproducer
        assert Path(case["reproducer"]).is_file()
    print(campaign.format_report(report), file=sys.stderr)


def test_signature_covers_program_and_card(tmp_path):
    pytest.importorskip("model_signing")
    from examples.integrity.signing import SignatureInvalid, sign_program, verify_signature
    from tests.helpers_signing import ec_key_pair

    private, public = ec_key_pair(tmp_path)
    program = _carded_file(tmp_path)
    sign_program(program, private)
    verify_signature(program, public)
    card = cards.read_card(program)
    card["model"] = "someone else's"  # the program's bytes are intact: only the signature sees this
    cards.write_card(program, card)
    assert verify_program(program, "require").trusted
    with pytest.raises(SignatureInvalid, match="does not verify") as caught:
        verify_signature(program, public)
    assert caught.value.exit_code == 5


def test_verification_cost_summary_is_a_ratio_of_medians():
    from tools.verification_cost.summary import summarize, table

    runs = {"off": [{"runner_ms": 20.0 + i % 3, "process_ms": 30.0, "verify_ms": 0.0} for i in range(9)],
            "auto": [{"runner_ms": 25.0 + i % 3, "process_ms": 33.0, "verify_ms": 4.0} for i in range(9)],
            "cached": [{"runner_ms": 21.0 + i % 3, "process_ms": 30.3, "verify_ms": 0.1} for i in range(9)]}
    summary = summarize(runs)
    assert summary["auto"]["runner_ms"]["off_median"] == 21.0 and summary["auto"]["runner_ms"]["median"] == 26.0
    assert summary["auto"]["runner_ms"]["overhead"] == pytest.approx(5 / 21)
    assert summary["auto"]["process_ms"]["overhead"] == pytest.approx(0.1)
    assert summary["auto"]["verify_ms_median"] == 4.0 and summary["cached"]["verify_ms_median"] == 0.1
    assert summary["cached"]["runner_ms"]["overhead"] == pytest.approx(1 / 21)
    text = table(summary)
    assert "+23.8 %" in text and "+10.0 %" in text and "+4.8 %" in text and "+1.0 %" in text


def test_campaign_keeps_few_mutated_copies_in_flight():
    """10,000 copies of a 4 MB program do not fit in memory: items are drawn as workers free up."""
    from concurrent.futures import ThreadPoolExecutor

    drawn = []

    def items():
        for i in range(50):
            drawn.append(i)
            yield i

    with ThreadPoolExecutor(max_workers=2) as pool:
        results = campaign.bounded_map(pool, lambda i: (i, len(drawn)), items(), window=4)
        first = next(results)
        assert first == (0, first[1]) and len(drawn) <= 4
        rest = list(results)
    assert [r[0] for r in [first, *rest]] == list(range(50))
    assert all(seen <= i + 4 for i, seen in [first, *rest])


@pytest.mark.slow
def test_runner_refuses_a_shifted_segment_base_without_the_card(carded_q8, runner_binary, tmp_path):
    """Even with --verify_program=off: segments must end at the end of the file (a flipped byte
    of the header's segment base made portable programs read wrong weights and exit 0)."""
    import struct

    exported, _ = carded_q8
    data = bytearray(exported.path.read_bytes())
    assert data[8:12] == b"eh00"
    program_size, base, size = struct.unpack_from("<QQQ", data, 16)
    assert program_size <= base and base + size == len(data)  # what the serializer writes
    struct.pack_into("<Q", data, 24, base + 16)
    shifted = tmp_path / "shifted.pte"
    shifted.write_bytes(bytes(data))
    done = client.run_raw(runner_binary, f"--model_path={shifted}", "--num_iters=1", "--verify_program=off")
    assert done.returncode == 1 and done.stderr.count("\n") == 1 and "damaged header or file" in done.stderr
    data = bytearray(exported.path.read_bytes())
    data[10] ^= 0x01  # "eh00" -> "ei00": the runtime alone would take the segment base to be 0
    (tmp_path / "nomagic.pte").write_bytes(bytes(data))
    done = client.run_raw(runner_binary, f"--model_path={tmp_path / 'nomagic.pte'}", "--num_iters=1",
                          "--verify_program=off")
    assert done.returncode == 1 and done.stderr.count("\n") == 1 and "no extended header" in done.stderr
