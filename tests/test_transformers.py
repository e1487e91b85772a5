"""Transformers a user brings: a small text classifier the zoo never saw (tests/helpers_transformers.py).

Token ids in, ``nn.Embedding`` -> 2 ``nn.TransformerEncoderLayer`` -> mean -> ``nn.Linear``.
Random weights: these tests check plumbing and int8 error against eager PyTorch, not accuracy.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from examples.common.metrics import sqnr_db
from examples.models.input_specs import InputSpec, infer_input_specs, random_inputs_for
from examples.quantization.calibration import load_calibration, random_calibration
from examples.quantization.recipe_choice import choose_recipe
from tests.export_helpers import factory as conv_factory
from tests.helpers_transformers import SEQ_LEN, VOCAB, encoder, token_ids

ENCODER = "tests.helpers_transformers:encoder"
MAX_SUBGRAPHS = 3  # the goal: at most 3 delegated subgraphs, fp32 and int8


# ---------------------------------------------------------------- inputs by spec

def test_token_ids_take_their_range_from_the_embedding():
    model, inputs = encoder()
    (spec,) = infer_input_specs(inputs, model)
    assert (spec.dtype, spec.shape, spec.low, spec.high) == (torch.int64, (1, SEQ_LEN), 0, VOCAB)
    assert "embedding of 100 rows" in spec.describe()


def test_without_a_model_integer_ranges_come_from_the_example_values():
    mask, ids, image = torch.tensor([[1, 0, 1]]), torch.tensor([[3, 7, 5]]), torch.randn(1, 3)
    specs = infer_input_specs((mask, ids, image))
    assert [(s.low, s.high) for s in specs[:2]] == [(0, 2), (3, 8)]
    assert specs[2].is_float and specs[2].dtype == torch.float32


def test_random_inputs_follow_dtype_shape_and_range():
    specs = (InputSpec((2, 64), torch.int64, 0, 100), InputSpec((2, 64), torch.int32, 0, 2),
             InputSpec((2, 4), torch.float32))
    ids, mask, x = random_inputs_for(specs, seed=3)
    assert ids.dtype == torch.int64 and ids.shape == (2, 64) and 0 <= ids.min() and ids.max() < 100
    assert ids.unique().numel() > 10  # spread over the vocabulary, not a constant
    assert mask.dtype == torch.int32 and set(mask.unique().tolist()) == {0, 1}
    assert x.dtype == torch.float32 and x.std() > 0.1
    assert torch.equal(random_inputs_for(specs, seed=3)[0], ids)  # deterministic


def test_random_calibration_of_the_encoder_is_token_ids():
    model, inputs = encoder()
    calibration = load_calibration(None, inputs, None, 4, model=model)
    assert calibration.random and len(calibration.batches) == 4
    for (batch,) in calibration.batches:
        assert batch.dtype == torch.int64 and batch.shape == (1, SEQ_LEN)
        assert 0 <= int(batch.min()) and int(batch.max()) < VOCAB
        model(batch)  # the failure this replaces: float "token ids" into nn.Embedding
    assert "int64 1x16 in [0, 100)" in calibration.source


def test_random_calibration_of_float_inputs_is_unchanged_randn():
    (batch,) = random_calibration((torch.zeros(1, 3, 8, 8),), 1).batches[0]
    assert batch.dtype == torch.float32 and batch.std() > 0.5


# ---------------------------------------------------------------- recipe by structure

def test_the_encoder_gets_the_linear_only_dynamic_recipe():
    choice = choose_recipe(*encoder())
    assert choice.recipe.name == "dynamic_per_channel_linear"
    assert "1 fed by integer inputs" in choice.reason and "transformer" in choice.reason
    assert choice.candidates[0] == "dynamic_per_channel_linear" and len(choice.candidates) > 1


def test_a_conv_net_keeps_the_static_recipe():
    choice = choose_recipe(*conv_factory())
    assert choice.recipe.name == "static_per_channel" and "convolution" in choice.reason


def test_user_models_name_no_recipe_so_the_graph_decides():
    from examples.models.zoo import resolve_model
    from examples.quantization.recipes import recipe_for

    spec = resolve_model(ENCODER)
    assert spec.quant_recipe is None
    model, inputs = encoder()
    assert recipe_for(spec, None, model, inputs).name == "dynamic_per_channel_linear"
    assert recipe_for(spec, "static_per_tensor").name == "static_per_tensor"  # --quant_recipe wins


# ---------------------------------------------------------------- decompositions (numerics, fast)

@pytest.mark.parametrize("mask_kind", ["float", "bool"])
def test_decompositions_match_eager(mask_kind):
    from examples.export.xnnpack_decompositions import decompose_for_xnnpack, needs_decompositions

    class Ops(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.norm = torch.nn.LayerNorm(8)

        def forward(self, x, mask):
            q, k, v = x.unflatten(-1, (3, 8)).unsqueeze(0).transpose(0, -2).squeeze(-2)
            heads = [t.view(2, 5, 2, 4).transpose(1, 2) for t in (q, k, v)]
            attn = torch.nn.functional.scaled_dot_product_attention(*heads, attn_mask=mask)
            y = self.norm(attn.transpose(1, 2).reshape(2, 5, 8))
            return y.mean(dim=1), y.mean(dim=(0, 2), keepdim=True)

    torch.manual_seed(0)
    mask = torch.randn(2, 1, 5, 5)
    if mask_kind == "bool":  # True = attend; every query keeps at least its diagonal key
        mask = (mask > 0) | torch.eye(5, dtype=torch.bool)
    model, inputs = Ops().eval(), (torch.randn(2, 5, 24), mask)
    exported = torch.export.export(model, inputs)
    assert needs_decompositions(exported)
    decomposed = decompose_for_xnnpack(exported)
    names = {getattr(n.target, "__name__", "") for n in decomposed.graph.nodes if n.op == "call_function"}
    assert not names & {"layer_norm.default", "scaled_dot_product_attention.default", "select.int",
                        "squeeze.dim", "squeeze.dims"}
    for expected, actual in zip(model(*inputs), decomposed.module()(*inputs)):
        torch.testing.assert_close(actual, expected, rtol=1e-5, atol=1e-5)


# ---------------------------------------------------------------- exported programs (slow)

@pytest.fixture(scope="module")
def encoder_program():
    """The encoder exported once at its fixed length, fp32. Its int8 program at that length is
    the CLI's (``cli_int8``): one export serves the CLI's test and the numeric checks."""
    from examples.export.lowering import export_program

    model, inputs = encoder()
    return model, export_program(model, inputs)


@pytest.fixture(scope="module")
def cli_int8(python_env, tmp_path_factory):
    """``--quantize`` through the CLI (the recipe chosen from the graph), held to the subgraph bound."""
    out = tmp_path_factory.mktemp("cli_int8")
    done = _cli(python_env, out, "--quantize", "--fail_on_fragmentation", str(MAX_SUBGRAPHS))
    assert done.returncode == 0, done.stderr
    return done.stdout, out / "tests_helpers_transformers_encoder_xnnpack_q8.pte"


def _run(program, tokens):
    from executorch.runtime import Runtime

    source = program if isinstance(program, Path) else program.buffer
    return Runtime.get().load_program(source).load_method("forward").execute([tokens])[0]


@pytest.mark.slow
def test_encoder_fp32_is_at_most_three_subgraphs(encoder_program):
    from examples.export.report import delegation_counts, fragmentation

    _, program = encoder_program
    subgraphs, crossings = fragmentation(program)
    assert 1 <= subgraphs <= MAX_SUBGRAPHS
    _, outside = delegation_counts(program.delegation_info())
    assert set(outside) <= {"aten_embedding_default"}, outside  # layer norm, attention, reshapes inside
    assert crossings <= 2 * MAX_SUBGRAPHS


@pytest.mark.slow
def test_encoder_int8_is_at_most_three_subgraphs(cli_int8):
    """The CLI exited 0 under --fail_on_fragmentation 3; its summary names what stayed outside."""
    stdout, _ = cli_int8
    outside = next(line for line in stdout.splitlines() if "op types outside XNNPACK:" in line)
    assert outside.split(":", 1)[1].split() in (["none"], ["aten_embedding_default", "x1"]), outside
    crossings = int(re.search(r"(\d+) tensor\(s\) crossing a delegate boundary", stdout)[1])
    assert crossings <= 2 * MAX_SUBGRAPHS


@pytest.mark.slow
def test_encoder_fp32_matches_eager(encoder_program):
    model, program = encoder_program
    for seed in range(3):
        tokens = token_ids(seed=seed)
        with torch.no_grad():
            torch.testing.assert_close(_run(program, tokens), model(tokens), rtol=1e-4, atol=1e-4)


@pytest.mark.slow
def test_encoder_int8_sqnr_at_least_20_db(cli_int8):
    _, pte = cli_int8
    model, _ = encoder()
    tokens = [token_ids(seed=seed) for seed in range(8)]
    with torch.no_grad():
        expected = torch.cat([model(t) for t in tokens])
    actual = torch.cat([_run(pte, t) for t in tokens])
    assert sqnr_db(expected, actual) >= 20.0


@pytest.mark.slow
def test_without_the_decompositions_the_encoder_fragments():
    """The 'before' of the goal: the stock export splits the encoder into many subgraphs."""
    from examples.export.lowering import export_program
    from examples.export.report import fragmentation

    subgraphs, crossings = fragmentation(export_program(*encoder(), xnnpack_decompositions=False))
    assert subgraphs > MAX_SUBGRAPHS and crossings > subgraphs


@pytest.mark.slow
def test_static_recipe_calibrates_the_encoder_on_token_ids():
    """The reported failure: static quantization with random calibration fed float ids to nn.Embedding."""
    from examples.export.lowering import export_program
    from examples.quantization.recipes import get_recipe

    model, inputs = encoder()
    calibration = load_calibration(None, inputs, None, 4, model=model)
    result = export_program(model, inputs, recipe=get_recipe("static_per_channel"), calibration=calibration.batches)
    assert result.calibration_batches == 4
    assert _run(result, token_ids(seed=1)).shape == (1, 4)


# ---------------------------------------------------------------- the CLI (slow)

def _cli(python_env, tmp_path, *args):
    return subprocess.run([sys.executable, "-m", "examples.backend.xnnpack_examples", "--model_name", ENCODER,
                           "--output_dir", str(tmp_path), *args],
                          capture_output=True, text=True, env=python_env, timeout=600)


@pytest.mark.slow
def test_cli_default_quantize_chooses_and_says_why(cli_int8):
    stdout, pte = cli_int8
    assert "quantization recipe: dynamic_per_channel_linear, chosen from the graph" in stdout
    assert "tensor(s) crossing a delegate boundary" in stdout
    assert pte.is_file()  # named after the module and the function


@pytest.mark.slow
def test_cli_fail_on_fragmentation_is_one_error_line(python_env, tmp_path):
    """Any model with a delegate has at least one subgraph: a toy one says it in a second."""
    done = subprocess.run([sys.executable, "-m", "examples.backend.xnnpack_examples", "--model_name", "add",
                           "--output_dir", str(tmp_path), "--fail_on_fragmentation", "0"],
                          capture_output=True, text=True, env=python_env, timeout=600)
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "--fail_on_fragmentation 0" in lines[0]
    assert not list(tmp_path.glob("*.pte"))


# ---------------------------------------------------------------- dynamic sequence length (slow)

@pytest.fixture(scope="module")
def dynamic_programs():
    """The encoder exported once for every sequence length 1..SEQ_LEN, fp32 and int8."""
    from examples.export.lowering import export_program
    from examples.models.input_specs import sequence_dynamic_shapes

    model, inputs = encoder()
    inputs, shapes = sequence_dynamic_shapes(inputs, SEQ_LEN, infer_input_specs(inputs, model))
    recipe = choose_recipe(model, inputs).recipe
    return model, {"fp32": export_program(model, inputs, dynamic_shapes=shapes),
                   "int8": export_program(model, inputs, recipe=recipe, dynamic_shapes=shapes)}


@pytest.mark.slow
@pytest.mark.parametrize("variant", ["fp32", "int8"])
def test_one_program_runs_every_length_up_to_max_seq_len(dynamic_programs, variant):
    from examples.export.report import fragmentation
    from examples.runner.python_runtime import execute, load_method

    model, programs = dynamic_programs
    assert fragmentation(programs[variant])[0] <= MAX_SUBGRAPHS
    method = load_method(programs[variant].buffer)
    for length in (1, 7, SEQ_LEN):
        tokens = token_ids(length, seed=length)
        with torch.no_grad():
            expected = model(tokens)
        actual = execute(method, [tokens])[0]
        if variant == "fp32":
            torch.testing.assert_close(actual, expected, rtol=1e-4, atol=1e-4)
        else:
            assert sqnr_db(expected, actual) >= 20.0, length


@pytest.mark.slow
def test_a_longer_sequence_is_one_clear_error(dynamic_programs):
    from examples.runner.python_runtime import InputMismatch, execute, load_method

    method = load_method(dynamic_programs[1]["fp32"].buffer)
    with pytest.raises(InputMismatch, match=r"size 17 in dimension 1; the program accepts 1\.\.16"):
        execute(method, [token_ids(SEQ_LEN + 1)])
    with pytest.raises(InputMismatch, match="is float32, the program takes int64"):
        execute(method, [torch.zeros(1, 4)])


@pytest.mark.slow
def test_native_runner_runs_every_length_up_to_max_seq_len(dynamic_programs, tmp_path):
    """The fp32 program saved as the CLI saves it (with its card, whose shapes are the bound) in
    the native runner: each length's shape travels in the input manifest; a longer sequence is
    one error line and a non-zero exit."""
    from examples.export.lowering import save_program
    from examples.runner import client
    from tests.helpers_runner import BUILD_DIR, ERROR, assert_error, ensure_runner, run

    runner = ensure_runner(BUILD_DIR)
    model, programs = dynamic_programs
    pte = save_program(programs["fp32"], tmp_path / "encoder_xnnpack_fp32.pte", model=ENCODER)
    for length in (1, SEQ_LEN // 2, SEQ_LEN):
        tokens = token_ids(length, seed=length)
        files = client.write_input_files([tokens], tmp_path / f"in_{length}")
        measured = client.run_program(runner, pte, iters=1, warmup=0, threads=1, inputs=files,
                                      output_path=tmp_path / f"out_{length}")
        with torch.no_grad():
            torch.testing.assert_close(torch.from_numpy(measured.outputs[0]), model(tokens), rtol=1e-4, atol=1e-4)
    longer = client.write_input_files([token_ids(SEQ_LEN + 1)], tmp_path / "longer")
    with pytest.raises(client.RunnerFailed, match=rf"int64\[1, {SEQ_LEN + 1}\] in the input manifest") as failed:
        client.run_program(runner, pte, iters=1, warmup=0, threads=1, inputs=longer)
    assert failed.value.exit_code == ERROR
    assert_error(run(runner, f"--model_path={pte}", f"--input_manifest={tmp_path / 'longer' / 'input.json'}"),
                 ERROR, f"is int64[1, {SEQ_LEN + 1}] in the input manifest")


def test_max_seq_len_needs_a_token_input():
    from examples.models.input_specs import sequence_dynamic_shapes

    with pytest.raises(ValueError, match="integer input of rank >= 2"):
        sequence_dynamic_shapes((torch.randn(1, 16),), 8)
    inputs, shapes = sequence_dynamic_shapes((token_ids(), torch.ones(1, 16, dtype=torch.int64)), 8)
    assert [t.shape[1] for t in inputs] == [8, 8] and shapes[0][1] is shapes[1][1]


# The CLI's --max_seq_len end to end (one program for a range of lengths, eager's outputs at
# two of them): tests/test_text_classification.py, on the CLI export it makes anyway.


def test_cli_max_seq_len_on_a_model_without_token_inputs_is_a_usage_error(python_env, tmp_path):
    done = subprocess.run([sys.executable, "-m", "examples.backend.xnnpack_examples", "--model_name", "add",
                           "--max_seq_len", "8", "--output_dir", str(tmp_path)],
                          capture_output=True, text=True, env=python_env, timeout=300)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: --max_seq_len needs an integer input"), lines
