"""A program whose layers are one DecodeRegionBackend delegate: text_generation_runner runs it
and decodes the numpy reference's tokens at 1 and 2 threads; the bytes it reads per token are
the delegate's weights block and one embedding row."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

from examples.generation import decode_region as region
from examples.models.llama_zoo import random_state_dict
from tests.helpers_generation import PROMPT, TINY_MODEL

REPO = Path(__file__).resolve().parents[1]
RUNNER = REPO / "cmake-out" / "text_generation_runner"
MAX_SEQ = 48
NEW_TOKENS = 32  # the prompt's 4 and these reach position 35: three 16-key chunks of attention


@pytest.fixture(scope="module")
def program(tmp_path_factory):
    from examples.generation.decode_region_export import export_region_program

    shape = region.StepShape.of(TINY_MODEL.shape, 32, MAX_SEQ)
    # the zoo's random weights (seed 3) times 20: logits far enough apart that greedy choices carry signal
    state = {name: tensor * (1 if "norm" in name else 20) for name, tensor in random_state_dict(TINY_MODEL.shape, 3).items()}
    path = export_region_program(state, shape, tmp_path_factory.mktemp("region") / "tiny_region.pte")
    return path, region.weights_from_state_dict(state, shape)


def _greedy_reference(weights, prompt: list[int], count: int) -> tuple[list[int], float]:
    """The reference's greedy tokens, and the smallest gap between the two best logits on the way."""
    tokens, gaps = list(prompt), []
    for _ in range(count):
        logits = region.reference_logits(weights, tokens)[-1]
        top = np.sort(logits)[-2:]
        gaps.append(top[1] - top[0])
        tokens.append(int(logits.argmax()))
    return tokens[len(prompt):], min(gaps)


def _run(path: Path, threads: int, new_tokens: int = NEW_TOKENS) -> dict:
    proc = subprocess.run([str(RUNNER), f"--model_path={path}", "--prompt_tokens=" + ",".join(map(str, PROMPT)),
                           f"--max_new_tokens={new_tokens}", f"--num_threads={threads}", "--json"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_the_runner_decodes_the_reference_tokens_through_the_backend(program):
    path, weights = program
    expected, smallest_gap = _greedy_reference(weights, PROMPT, NEW_TOKENS)
    assert smallest_gap > 1e-2 and len(set(expected)) > 3  # choices a last-bit difference cannot flip
    for threads in (1, 2):
        report = _run(path, threads)
        assert report["tokens"] == expected, threads
        assert report["generated_tokens"] == NEW_TOKENS and report["decode_tok_s"] > 0


def test_teacher_forced_logits_are_the_references_at_every_position(program):
    """The native runner's --forced_tokens / --logits_out (tune's accuracy check of programs only
    it runs): the prompt's logits, then those after each fed token, not after the program's own."""
    from examples.runner.text_generation_client import generate_tokens, teacher_forced_logits

    path, weights = program
    own = generate_tokens(path, PROMPT, runner="native", max_new_tokens=6)["tokens"]
    fed = [(7 * token + 3) % 512 for token in own]
    assert fed != own
    native = teacher_forced_logits(path, PROMPT, fed, threads=2)
    expected = region.reference_logits(weights, PROMPT + fed[:-1])[len(PROMPT) - 1:]
    assert native.shape == expected.shape == (6, 512)
    assert np.abs(native - expected).max() < 1e-4


@pytest.mark.parametrize("old, new, message", [
    (b"DREGION1", b"DREGIONX", "DecodeRegionBackend: the blob has no DREGION1 header"),
    (b"decode_region.1.4", b"decode_region.1.9", "DecodeRegionBackend: no named data decode_region.1.4"),
])
def test_a_program_the_backend_cannot_read_is_one_error_line(program, tmp_path, old, new, message):
    path, _ = program
    bad = tmp_path / "bad.pte"
    bad.write_bytes(path.read_bytes().replace(old, new, 1))
    proc = subprocess.run([str(RUNNER), f"--model_path={bad}", "--prompt_tokens=1,2", "--max_new_tokens=2"],
                          capture_output=True, text=True, timeout=60)
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert proc.returncode == 1 and len(errors) == 1 and message in errors[0], proc.stderr


def test_the_backend_keeps_the_weights_resident_once(tmp_path):
    """XNNPACK packs its own copy of each linear at load, and the backend hands each linear the
    loader read back once packed: at no time are the weights resident twice (a block of 15 MiB:
    8 layers of dim 512)."""
    from examples.generation.decode_region_export import export_region_program
    from examples.models.llama_zoo import LlamaShape

    model = LlamaShape(dim=512, n_layers=8, n_heads=8, vocab_size=4096)
    shape = region.StepShape.of(model, 32, MAX_SEQ)
    state = random_state_dict(model, 1)
    block = len(region.weights_block(region.weights_from_state_dict(state, shape)))
    path = export_region_program(state, shape, tmp_path / "medium_region.pte")
    report = _run(path, 2, new_tokens=4)
    peak = (report["peak_rss_kb"] - report["baseline_rss_kb"]) * 1024
    # one packed copy plus the runtime's own ~9 MiB: about 1.6 blocks. Kept until the end, what the
    # loader read adds a block; read whole and freed after packing, it peaked at 2.15 blocks
    assert peak < 1.9 * block, (peak / block, report)


def test_split_block_undoes_weights_block_and_refuses_another_shape():
    shape = region.StepShape(64, 192, 2, 4, 512, 32, MAX_SEQ)
    block = region.weights_block(region.random_weights(shape))
    norms, linears = region.split_block(block, shape)
    assert len(norms) == 5 * 64 * 4 and norms + b"".join(data for _, _, data in linears) == block
    assert [(layer, index) for layer, index, _ in linears] == [(i, j) for i in range(2) for j in range(7)] + [(2, 0)]
    sizes = [(n, k) for n, k in shape.linears()] * 2 + [(512, 64)]  # q k v o w1 w3 w2, then the output
    assert [len(data) for _, _, data in linears] == [n * k // 2 + n * (k // 32) * 2 for n, k in sizes]
    with pytest.raises(ValueError):
        region.split_block(block, region.StepShape(64, 192, 3, 4, 512, 32, MAX_SEQ))


def test_bytes_per_token_count_the_delegate_block_and_one_embedding_row(program):
    from examples.generation.bytes_per_token import weight_bytes

    path, weights = program
    shape = TINY_MODEL.shape
    accounting = weight_bytes("executorch", path, shape.vocab_size)
    assert accounting["embedding_table"] == shape.vocab_size * shape.dim * 4
    block = len(region.weights_block(weights))
    # the file's bytes less the table: the delegate's block and one row, plus the program's own few KiB
    assert 0 <= accounting["weights"] - (block + accounting["embedding_row"]) < 64 << 10


def test_the_decode_probe_times_the_program_beside_the_region(program, tmp_path):
    from examples.generation.decode_probe import measure, summary_rows

    path, _ = program
    cells = measure(TINY_MODEL.shape, 32, [1], 1, 8, 8, tmp_path, [path], progress=lambda line: None)
    (cell,) = cells[1]
    run = cell["programs"][path.name]
    assert run["tok_s"] > 0 and 0 < run["fraction"] and run["bytes"] > cell["step_bytes"] / 2
    assert [row[1] for row in summary_rows(cells)] == ["one region (probe)", path.name]
