"""The decode-step probe: a whole decode step in one parallel region (cmake-out/xnnpack_decode_probe)
computes the numpy reference's logits, the same at 1 and 2 threads, and its command measures it
against the bandwidth probe."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from examples.generation import decode_probe as dp
from examples.generation import decode_region as region

REPO = Path(__file__).resolve().parents[1]
# Small, but with every part that can go wrong: two layers, four heads of 16, three 16-key chunks
# of attention (positions past 32), two int4 blocks per row.
TINY = region.StepShape(dim=64, hidden=128, n_layers=2, n_heads=4, vocab=96, block=32, max_seq=48)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    folder = tmp_path_factory.mktemp("decode_probe")
    weights = region.random_weights(TINY, seed=1)
    dp.write_weights(folder / "weights.bin", weights)
    tokens = [int(t) for t in np.random.default_rng(3).integers(0, TINY.vocab, 40)]
    return folder, weights, tokens


def test_the_region_computes_the_reference_logits_at_every_thread_count(tiny):
    folder, weights, tokens = tiny
    reference = region.reference_logits(weights, tokens)
    assert reference.std() > 0.5 and len({row.argmax() for row in reference}) > 5  # the logits carry signal
    got = {n: dp.probe_logits(folder / "weights.bin", TINY, tokens, n, folder / f"logits{n}.bin") for n in (1, 2)}
    for n, logits in got.items():
        # the reference sums in float64; the binary's float32 sums and exp polynomial differ in the last bits
        assert np.abs(logits - reference).max() < 1e-4, n
        assert (logits.argmax(axis=1) == reference.argmax(axis=1)).all(), n
    assert np.array_equal(got[1], got[2])  # every value computed by one thread, in one order


@pytest.mark.parametrize("threads", [1, 2])
def test_a_prompt_in_one_call_computes_the_reference_logits(tiny, threads):
    """The first 37 tokens in one call (every GEMM over 37 rows, attention by heads, causal),
    then the rest one at a time from the cache that call wrote."""
    folder, weights, tokens = tiny
    reference = region.reference_logits(weights, tokens)[36:]
    logits = dp.probe_logits(folder / "weights.bin", TINY, tokens, threads, folder / f"prompt{threads}.bin", prompt=37)
    assert np.abs(logits - reference).max() < 1e-4
    assert (logits.argmax(axis=1) == reference.argmax(axis=1)).all()


def test_the_binary_refuses_a_damaged_weights_file_in_one_line(tiny, tmp_path):
    folder, _, _ = tiny
    data = (folder / "weights.bin").read_bytes()
    (tmp_path / "short.bin").write_bytes(data[:-1])
    (tmp_path / "foreign.bin").write_bytes(b"NOTSTEP\n" + data[8:])
    for name, message in (("short.bin", "size is not what its header says"), ("foreign.bin", "header")):
        proc = subprocess.run([str(dp.DECODE_PROBE), "--weights", str(tmp_path / name), "--threads", "1",
                               "--positions", "0:4"], capture_output=True, text=True, timeout=60)
        assert proc.returncode == 2 and proc.stderr.startswith("error: ") and message in proc.stderr, proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1
    # a flag of the other mode is refused, not ignored
    for mode in (["--positions", "0:4", "--prompt", "2"], ["--tokens", "1,2", "--logits_out", str(tmp_path / "l"),
                                                           "--passes", "3"]):
        proc = subprocess.run([str(dp.DECODE_PROBE), "--weights", str(folder / "weights.bin"), *mode],
                              capture_output=True, text=True, timeout=60)
        assert proc.returncode == 2 and proc.stderr.startswith("error: usage:"), proc.stderr


def test_step_bytes_count_weights_norms_an_embedding_row_and_the_cache():
    shape = region.StepShape(dim=64, hidden=128, n_layers=1, n_heads=4, vocab=96, block=32, max_seq=8)
    int4 = lambda n, k: n * k // 2 + n * (k // 32) * 2  # noqa: E731 (values and bf16 scales)
    weights = 4 * int4(64, 64) + 2 * int4(128, 64) + int4(64, 128) + int4(96, 64)
    assert region.step_bytes(shape, 0) == weights + 4 * 4 * 64  # two norms, the output norm, one embedding row
    assert region.step_bytes(shape, 3) - region.step_bytes(shape, 0) == 2 * 3 * 64 * 4  # K and V, fp32, 3 positions


def test_the_command_times_the_region_against_the_probe(tmp_path):
    out = tmp_path / "probe.json"
    proc = subprocess.run([sys.executable, "-m", "examples.backend.decode_probe", "--model", "stories15m",
                           "--threads", "1", "--rounds", "1", "--prompt_len", "8", "--max_new_tokens", "8",
                           "--json", str(out)], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "one region (probe)" in proc.stdout and "program" not in proc.stdout.split("\n", 1)[1]
    result = json.loads(out.read_text())
    (cell,) = result["rounds"]["1"]
    assert result["kind"] == "decode_probe" and result["machine"]["cpu_model"]
    assert 0 < cell["region_fraction"] < 2 and cell["region_ms"] > 0 and cell["probe_gb_s"] > 0
    bad = subprocess.run([sys.executable, "-m", "examples.backend.decode_probe", "--threads", "1,64"], cwd=REPO,
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and bad.stderr.startswith("error: ") and "usable CPU" in bad.stderr
