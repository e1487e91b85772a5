"""Language models: zoo shapes, weights, LLM export, token generation against eager PyTorch."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from examples.generation.sampling import Sampler
from examples.models.llama_zoo import (LLM_MODELS, LlamaWeightsError, check_fits, prepare_weights,
                                       random_state_dict, read_checkpoint, read_llama2c_bin)
from tests.helpers_generation import (MAX_SEQ_LEN, PROMPT, TINY_MODEL, train_hf_tokenizer, train_sentencepiece,
                                      write_llama2c_bin)

REPO = Path(__file__).resolve().parents[1]


def run_cli(module: str, *args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", module, *args], cwd=REPO, capture_output=True, text=True,
                          timeout=timeout)


def assert_one_error_line(proc: subprocess.CompletedProcess, code: int, fragment: str) -> None:
    assert proc.returncode == code, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip() and not line.startswith("warning: ")]
    assert len(lines) == 1 and lines[0].startswith("error: ") and fragment in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr


def prepared(tmp: Path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return prepare_weights(TINY_MODEL, "random", tmp, seed=0)


# ---- zoo and weights (fast) ----

def test_zoo_shapes_match_the_published_models():
    assert LLM_MODELS["stories15m"].shape.ffn_hidden_dim() == 768
    assert LLM_MODELS["stories110m"].shape.ffn_hidden_dim() == 2048
    assert LLM_MODELS["llama3_2_1b"].shape.ffn_hidden_dim() == 8192
    assert LLM_MODELS["llama3_2_1b"].needs_checkpoint


def test_random_weights_are_real_random_weights_and_seeded(tmp_path):
    from examples.generation.eager_reference import build_eager

    with pytest.warns(UserWarning, match="RANDOM weights"):
        first = prepare_weights(TINY_MODEL, "auto", tmp_path / "a", seed=0)
    # The exporter reads "int8" / "8da4w" in a checkpoint path as "pre-quantized".
    assert "int8" not in str(first.checkpoint) and "8da4w" not in str(first.checkpoint)
    again = random_state_dict(TINY_MODEL.shape, seed=0)
    saved = torch.load(first.checkpoint, weights_only=True)
    assert all(torch.equal(saved[k], again[k]) for k in again)
    assert not torch.equal(random_state_dict(TINY_MODEL.shape, seed=1)["output.weight"], again["output.weight"])
    model = build_eager(first.params, first.checkpoint, MAX_SEQ_LEN)
    with torch.no_grad():
        logits = model(torch.tensor([PROMPT]))
    logits = logits[0] if isinstance(logits, tuple) else logits
    assert float(logits.std()) > 1e-3  # all-zero weights would give constant logits


def test_llama2c_bin_checkpoint_round_trip(tmp_path):
    state = random_state_dict(TINY_MODEL.shape, seed=3)
    path = tmp_path / "stories.bin"
    write_llama2c_bin(path, state, TINY_MODEL.shape)
    shape, read = read_llama2c_bin(path)
    assert shape.ffn_hidden_dim() == TINY_MODEL.shape.ffn_hidden_dim() and shape.dim == 64
    assert set(read) == set(state)
    assert all(torch.equal(read[k], state[k]) for k in state)
    check_fits(read, TINY_MODEL.shape, "tiny", str(path))
    with pytest.raises(LlamaWeightsError, match="does not fit 'stories15m': missing layers.2"):
        check_fits(read, LLM_MODELS["stories15m"].shape, "stories15m", str(path))
    with pytest.raises(LlamaWeightsError, match="token embedding is 512x64, the model needs 1000x64"):
        check_fits(read, dataclasses.replace(TINY_MODEL.shape, vocab_size=1000), "tiny", str(path))


def test_meta_checkpoint_under_a_model_key_with_compiled_prefixes(tmp_path):
    state = random_state_dict(TINY_MODEL.shape, seed=4)
    path = tmp_path / "ckpt_8da4w.pt"  # a name the exporter would misread; prepare_weights renames it
    torch.save({"model": {"_orig_mod." + k: v for k, v in state.items()}, "model_args": {}}, path)
    assert set(read_checkpoint(path)) == set(state)
    out = prepare_weights(TINY_MODEL, str(path), tmp_path / "w")
    assert "8da4w" not in out.checkpoint.name and out.source == str(path)
    broken = tmp_path / "broken.pt"
    broken.write_bytes(b"not a checkpoint")
    with pytest.raises(LlamaWeightsError, match="cannot read weights file"):
        read_checkpoint(broken)


def test_sampler_greedy_top_p_and_seed():
    logits = np.array([0.1, 3.0, 2.9, -1.0])
    assert Sampler()(logits) == 1
    assert {Sampler(1.0, top_p=0.01, seed=s)(logits) for s in range(20)} == {1}  # nucleus of one token
    draws = [Sampler(1.0, seed=7)(logits) for _ in range(3)]
    assert len(set(draws)) == 1
    assert len({Sampler(5.0, seed=s)(logits) for s in range(40)}) > 2
    with pytest.raises(ValueError):
        Sampler(top_p=0)


@pytest.mark.parametrize("train", [train_sentencepiece, train_hf_tokenizer])
def test_tokenizers_trained_here_round_trip_and_stream(train, tmp_path):
    from examples.evaluation.tokenizer import TextTokenizer
    from examples.generation.tokenizer import StreamingDecoder

    tokenizer = TextTokenizer(train(tmp_path / ("tok.json" if train is train_hf_tokenizer else "tok.model")))
    text = "Once upon a time Lily saw a small bird."
    ids = tokenizer.encode(text)
    assert ids[0] == tokenizer.bos_id == 1 and tokenizer.stop_ids == [2]
    assert len(ids) < len(text)  # merges were learned
    assert tokenizer.decode(ids[1:]) == text
    stream = StreamingDecoder(tokenizer)
    assert "".join(stream.push(t) for t in ids[1:]) == text


def test_unreadable_tokenizer_is_one_error(tmp_path):
    from examples.evaluation.tokenizer import TextTokenizer, TokenizerError

    (tmp_path / "t.model").write_text("not a tokenizer\n")
    with pytest.raises(TokenizerError, match="cannot read tokenizer"):
        TextTokenizer(tmp_path / "t.model")


# ---- CLIs: bad input is one line (fast) ----

@pytest.mark.parametrize("args, code, fragment", [
    (("--prompt_tokens", "1,2"), 2, "--model_path is required"),
    (("--model_path", "missing.pte", "--prompt_tokens", "1"), 2, "model file not found"),
    (("--model_path", "README.md", "--prompt_tokens", "1,x"), 2, "comma-separated integers"),
    (("--model_path", "README.md", "--prompt_tokens", "1", "--top_p", "0"), 2, "--top_p"),
    # the native runners' layout check and words, before the runtime (and libtorch) is loaded
    (("--model_path", "README.md", "--prompt_tokens", "1"), 1, "README.md is not a valid ExecuTorch program"),
])
def test_token_runner_bad_input(args, code, fragment):
    assert_one_error_line(run_cli("examples.backend.token_runner", *args), code, fragment)


@pytest.mark.parametrize("args, fragment", [
    (("--model_name", "llama3_2_1b"), "offered only with its checkpoint"),
    (("--model_name", "stories15m", "--quantize", "--group_size", "100"), "does not divide"),
    (("--model_name", "stories15m", "--nodelegate"), "XNNPACK only"),
    (("--model_name", "stories15m", "--weights", "missing.pth"), "weights file not found"),
    (("--model_name", "mv2", "--quantize_kv_cache"), "language models only"),
    (("--model_name", "mv2", "--fp32_prefill"), "--fp32_prefill applies to language models only"),
    (("--model_name", "stories15m", "--fp32_prefill"), "goes with a quantized (8da4w) program"),
    (("--model_name", "mv2", "--one_call_per_block"), "--one_call_per_block applies to language models only"),
    (("--model_name", "stories15m", "--one_call_per_block"), "go with a quantized (8da4w) program"),
    (("--model_name", "mv2", "--decode_region"), "--decode_region applies to language models only"),
    (("--model_name", "stories15m", "--decode_region"), "the decode region goes with 8da4w in groups"),
    (("--model_name", "stories15m", "--quantize", "--decode_region", "--group_size", "0"),
     "the decode region goes with 8da4w in groups"),
    (("--model_name", "stories15m", "--quantize", "--decode_region", "--one_call_per_block"),
     "the decode region has its own layout: drop merged_partitions, xnnpack_forms"),
    (("--model_name", "stories15m", "--quantize", "--decode_region", "--quantize_kv_cache"),
     "has its own layout: drop quantize_kv_cache"),
    (("--model_name", "llama3_2_1b", "--quantize", "--decode_region", "--weights", "README.md"),
     "multi-head attention only"),
    # the image-model path's flags: refused, never ignored
    (("--model_name", "stories15m", "--quantize", "--num_calibration_samples", "4"),
     "error: --num_calibration_samples does not apply to language models (--quantize is 8da4w, weight-only "
     "calibration-free)"),
    (("--model_name", "stories15m", "--etrecord", "e", "--bundle", "--print_graph", "--fail_on_fragmentation", "3"),
     "error: --etrecord, --bundle, --print_graph and --fail_on_fragmentation do not apply to language models "
     "('stories15m' is exported by ExecuTorch's LLM exporter)"),
    (("--model_name", "stories15m", "--eval_data", "d", "--eval_limit", "3", "--eval_engine", "python", "--tokenizer",
      "t"), "error: --eval_data, --eval_limit, --eval_engine and --tokenizer do not apply to language models"),
    (("--model_name", "stories15m", "--sign_key", "missing.pem"), "error: --sign_key: no such file: missing.pem"),
    (("--model_name", "stories15m", "--group_size", "64"),
     "error: --group_size goes with a quantized (8da4w) program: add --quantize"),
    (("--model_name", "mv2", "--group_size", "64", "--weights_seed", "0"),
     "error: --group_size and --weights_seed apply to language models only, not 'mv2'"),
])
def test_export_cli_language_model_bad_input(args, fragment, tmp_path):
    proc = run_cli("examples.backend.xnnpack_examples", *args, "--output_dir", str(tmp_path))
    assert_one_error_line(proc, 2, fragment)


def test_export_cli_weights_seed_with_a_checkpoint_is_ignored_with_a_warning(tmp_path):
    proc = run_cli("examples.backend.xnnpack_examples", "--model_name", "stories15m", "--weights", "missing.pth",
                   "--weights_seed", "3", "--output_dir", str(tmp_path))
    assert_one_error_line(proc, 2, "weights file not found")
    assert [line for line in proc.stderr.splitlines() if line.startswith("warning: ")] == [
        "warning: --weights_seed is only used with random weights (--weights auto or random); ignored"]


# The export CLI with the language-model export replaced by a copy of a program already made
# (argv[1]): the CLI's own flags and what it does after the export, without a second export.
_EXPORT_CLI_ON_A_MADE_PROGRAM = """
import runpy, shutil, sys
from examples.generation import model_export
made = sys.argv.pop(1)
def copy_made(model, options, weights, output, seed=0, verbose=False):
    for suffix in ("", ".json"):  # the program and its card
        shutil.copyfile(made + suffix, f"{output}{suffix}")
    return output
model_export.export_language_model = copy_made
runpy.run_module("examples.backend.xnnpack_examples", run_name="__main__", alter_sys=True)
"""


def test_export_cli_flags_make_the_language_model_options():
    from types import SimpleNamespace

    from examples.generation.export_hooks import options_from_flags
    from examples.generation.llama_export import program_filename

    flags = SimpleNamespace(quantize=True, group_size=0, max_seq_len=None, quantize_kv_cache=True, fp32_prefill=False,
                            one_call_per_block=False, decode_region=False)
    options = options_from_flags(flags)
    assert options.quantize and options.group_size == 0 and options.quantize_kv_cache and not options.fp32_prefill
    assert options.max_seq_len == 128  # the default KV cache length
    assert program_filename("stories15m", options) == "stories15m_xnnpack_8da4w_pc_kv8.pte"
    assert not options_from_flags(SimpleNamespace(**{**vars(flags), "quantize_kv_cache": False})).quantize_kv_cache
    split = options_from_flags(SimpleNamespace(**{**vars(flags), "group_size": 32, "quantize_kv_cache": False,
                                                  "fp32_prefill": True}))
    assert split.fp32_prefill and program_filename("stories15m", split) == "stories15m_xnnpack_8da4w_fp32prefill.pte"
    whole = options_from_flags(SimpleNamespace(**{**vars(flags), "group_size": 32, "quantize_kv_cache": False,
                                                  "one_call_per_block": True}))
    assert whole.merged_partitions and whole.xnnpack_forms
    assert program_filename("stories15m", whole) == "stories15m_xnnpack_8da4w_merged_forms.pte"
    region = options_from_flags(SimpleNamespace(**{**vars(flags), "group_size": 32, "quantize_kv_cache": False,
                                                   "decode_region": True}))
    assert region.decode_region and program_filename("stories15m", region) == "stories15m_xnnpack_8da4w_region.pte"
    # a program of the kernel layout (no format in its stamp) is rebuilt, not handed to a runner without the kernel
    from examples.generation.llama_export import DECODE_REGION_FORMAT, options_stamp
    assert options_stamp(region).endswith(f"decode_region=True, decode_region_format={DECODE_REGION_FORMAT})")
    assert "decode_region_format" not in options_stamp(split)


def test_group_size_0_is_one_int4_scale_per_output_channel_and_kv8_an_int8_cache():
    from examples.benchmark.generation_variants import executorch_options
    from examples.generation.llama_export import (LlamaExportError, LlamaExportOptions, PER_CHANNEL,
                                                  check_options, program_filename)
    kv8 = executorch_options("8da4w-kv8", 192)
    assert kv8.quantize_kv_cache and kv8.group_size == 32
    assert program_filename("stories110m", kv8) == "stories110m_xnnpack_8da4w_kv8.pte"
    options = executorch_options("8da4w-pc", 192)
    assert options.quantize and options.group_size == PER_CHANNEL
    assert executorch_options("8da4w", 192, group_size=0).group_size == PER_CHANNEL  # 0 is not "not given"
    assert program_filename("stories110m", options) == "stories110m_xnnpack_8da4w_pc.pte"
    assert options.grouping == "per channel"
    check_options(LLM_MODELS["stories110m"], options)  # no width to divide
    from examples.generation.llama_export import llm_config
    from examples.models.llama_zoo import PreparedWeights

    config = llm_config(LLM_MODELS["stories110m"], PreparedWeights(Path("c.pth"), Path("p.json"), "random"), options,
                        Path("out.pte"))
    assert config.quantization.qmode == "8da4w" and config.quantization.group_size == 0  # the exporter's PerAxis(0)
    assert not config.model.quantize_kv_cache
    assert llm_config(LLM_MODELS["stories110m"], PreparedWeights(Path("c.pth"), Path("p.json"), "random"), kv8,
                      Path("out.pte")).model.quantize_kv_cache
    with pytest.raises(LlamaExportError, match="positive or 0"):
        check_options(LLM_MODELS["stories110m"], LlamaExportOptions(quantize=True, group_size=-1))


# ---- exported programs (slow: each export takes about a minute here) ----

# The exported programs' KV cache: past custom_sdpa's key block of 512, so a long decode crosses
# a block boundary (the second block's rescaling and accumulation, its truncated last block).
PROGRAM_SEQ_LEN = 544

class TinyPrograms(dict):
    """fp32, 8da4w, 8da4w-pc (per-channel), 8da4w-kv8 (int8 KV cache) and 8da4w-fp32prefill programs of the tiny
    model, each exported by the export CLI's function on first use (an export takes most of a
    minute: fp32-only tests never pay for 8da4w)."""

    def __init__(self, folder: Path):
        super().__init__()
        self.folder = folder

    def __missing__(self, mode: str) -> Path:
        from examples.generation.model_export import export_language_model
        from examples.generation.llama_export import LlamaExportOptions, program_filename

        from examples.generation.llama_export import PER_CHANNEL

        options = LlamaExportOptions(quantize=mode != "fp32", max_seq_len=PROGRAM_SEQ_LEN)
        if mode == "8da4w-pc":
            options = dataclasses.replace(options, group_size=PER_CHANNEL)
        elif mode == "8da4w-kv8":
            options = dataclasses.replace(options, quantize_kv_cache=True)
        elif mode == "8da4w-fp32prefill":
            options = dataclasses.replace(options, fp32_prefill=True)
        elif mode not in ("fp32", "8da4w"):
            raise KeyError(mode)
        self[mode] = export_language_model(TINY_MODEL, options, "random",
                                           self.folder / program_filename("tiny", options), seed=0)
        return self[mode]


@pytest.fixture(scope="session")
def tiny_programs(tmp_path_factory):
    return TinyPrograms(tmp_path_factory.mktemp("llm"))


@pytest.mark.slow
def test_export_cli_signs_a_language_models_program_and_card(tiny_programs, tmp_path):
    """--sign_key on the language-model path signs the program and its card as for image models
    (the export: the session's tiny fp32 program, copied where the CLI writes its program)."""
    pytest.importorskip("model_signing")
    from examples.integrity.card import read_card, write_card
    from examples.integrity.signing import SignatureInvalid, verify_signature
    from tests.helpers_signing import ec_key_pair

    private, public = ec_key_pair(tmp_path)
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-c", _EXPORT_CLI_ON_A_MADE_PROGRAM, str(tiny_programs["fp32"]),
                           "--model_name", "stories15m", "--sign_key", str(private), "--output_dir", str(out)],
                          cwd=REPO, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    program = out / "stories15m_xnnpack_fp32.pte"
    assert f"signed {program.name} and its card: {program.resolve()}.sig" in proc.stdout.splitlines()
    verify_signature(program, public)  # raises unless the signature covers this program and card
    write_card(program, dict(read_card(program), model="someone else's"))
    with pytest.raises(SignatureInvalid, match="does not verify"):
        verify_signature(program, public)


def native_runner_or_skip() -> Path:
    from examples.runner.text_generation_client import DEFAULT_TEXT_RUNNER

    if not DEFAULT_TEXT_RUNNER.is_file():
        pytest.skip("cmake-out/text_generation_runner is not built (./setup.sh builds it)")
    return DEFAULT_TEXT_RUNNER


@pytest.mark.slow
@pytest.mark.parametrize("runner", ["python-standin", "native"])
def test_fp32_greedy_tokens_equal_eager_pytorch(runner, tiny_programs, tmp_path):
    from examples.generation.eager_reference import build_eager, greedy_tokens
    from examples.runner.text_generation_client import generate_tokens

    if runner == "native":
        native_runner_or_skip()
    weights = prepared(tmp_path)
    expected = greedy_tokens(build_eager(weights.params, weights.checkpoint, MAX_SEQ_LEN), PROMPT, 32)
    report = generate_tokens(tiny_programs["fp32"], PROMPT, runner=runner, max_new_tokens=32)
    assert report["runner"] == runner
    assert report["tokens"] == expected
    assert len(set(expected)) > 1  # not a degenerate constant stream
    assert report["prompt_tokens"] == len(PROMPT) and report["generated_tokens"] == 32
    assert report["decode_tok_s"] > 0 and report["prefill_tok_s"] > 0 and report["peak_rss_kb"] > 0


@pytest.mark.slow
# fp32 decodes across the kernel's 512-key block (its block logic is shared by both caches). The
# int8 cache needs its own 8da4w export (most of a minute), so it runs with the llm tier's other
# kv8 tests; tests/test_llm_kernels.py checks its kernels in every run.
@pytest.mark.parametrize("mode, new_tokens, attention", [
    ("fp32", 527, "key_rows"), ("fp32", 100, "per_head"),
    pytest.param("8da4w-kv8", 64, "key_rows", marks=pytest.mark.llm)])
def test_native_attention_gives_the_python_runtimes_logits_at_every_step(mode, new_tokens, attention, tiny_programs,
                                                                          tmp_path):
    """The runner's own custom_sdpa and custom_quantized_sdpa builds (third-party/executorch_llm_ops,
    with local changes for one query row: fp32 by key rows, or per head with --decode_attention,
    and int8 over an int8 KV cache) against the wheel's, logit by logit over a prefill and decode
    steps at 2 threads (past 64 keys, two key ranges): greedy tokens alone would hide a small
    error in attention."""
    import executorch.extension.llm.custom_ops.custom_ops  # noqa: F401  (the wheel's kernels)
    import executorch.kernels.quantized  # noqa: F401  (the int8 cache's quantize ops)
    from executorch.runtime import Runtime

    binary = native_runner_or_skip()
    dump = tmp_path / "logits.bin"
    proc = subprocess.run([str(binary), f"--model_path={tiny_programs[mode]}", "--num_threads=2", "--json",
                           f"--prompt_tokens={','.join(map(str, PROMPT))}", f"--max_new_tokens={new_tokens}",
                           f"--decode_attention={attention}"],
                          capture_output=True, text=True, timeout=120, env=dict(os.environ, XNN_RUNNER_TEST_LOGITS=str(dump)))
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["decode_attention"] == attention
    tokens = json.loads(proc.stdout)["tokens"]
    native = np.fromfile(dump, dtype=np.float32).reshape(len(tokens), -1)
    method = Runtime.get().load_program(str(tiny_programs[mode])).load_method("forward")
    steps = [(PROMPT, 0)] + [([t], len(PROMPT) + i) for i, t in enumerate(tokens[:-1])]
    for row, (ids, position) in zip(native, steps):
        logits = method.execute([torch.tensor([ids]), torch.tensor([position])])[0].reshape(-1, row.size)[-1]
        # measured: 5e-7 (fp32), 3e-7 (int8 cache)
        np.testing.assert_allclose(row, logits.numpy(), rtol=0, atol=1e-5 * float(np.abs(row).max()))


@pytest.mark.slow
def test_a_programs_bytes_per_token_are_its_file_less_the_embedding_table_plus_a_row(tiny_programs):
    from examples.generation.bytes_per_token import bytes_per_token

    program, shape = tiny_programs["fp32"], TINY_MODEL.shape
    account = bytes_per_token("executorch", program, shape, position=10)
    assert account["embedding_table"] == shape.vocab_size * shape.dim * 4  # fp32, found through forward's gather
    assert account["other_methods"] == 0 and account["file"] == program.stat().st_size
    assert account["weights"] == account["file"] - account["embedding_table"] + shape.dim * 4


@pytest.mark.slow
def test_idle_workers_spin_through_a_gap_between_steps(tiny_programs):
    """The runner's thread pool (third-party/pthreadpool, bound in place of the wheel's copy):
    after a parallel operator, 100 us of main-thread work (a portable operator between two
    parallel ones in a decode step) does not put the idle worker to sleep. The runner's probe
    (XNN_RUNNER_TEST_POOL_GAPS, test_hooks.h) pins the two threads to a CPU each and counts
    voluntary context switches over 200 such gaps: the wheel's pool makes one per gap every
    time (200, also with both CPUs busy with other work), the runner's makes none on a quiet
    machine. With both CPUs saturated by other processes the runner's can sleep too, so the probe
    is tried up to 8 times: a pool that sleeps at every gap never passes."""
    binary = native_runner_or_skip()
    gaps, attempts = 200, []
    for _ in range(8):
        proc = subprocess.run([str(binary), f"--model_path={tiny_programs['fp32']}", "--num_threads=2", "--json",
                               f"--prompt_tokens={PROMPT[0]}", "--max_new_tokens=1"], capture_output=True, text=True,
                              timeout=120, env=dict(os.environ, XNN_RUNNER_TEST_POOL_GAPS=str(gaps)))
        assert proc.returncode == 0, proc.stderr
        report = json.loads(proc.stdout)
        assert report["threadpool"]["vendored"] and report["threadpool"]["spin_pause_iterations"] >= 10000, report
        probe = re.search(r"pool gap probe: (\d+) voluntary and \d+ involuntary context switches over (\d+) gaps",
                          proc.stderr)
        assert probe and int(probe[2]) == gaps, proc.stderr
        attempts.append(int(probe[1]))
        if attempts[-1] < gaps // 4:
            break
    assert attempts[-1] < gaps // 4, attempts


@pytest.mark.slow
def test_a_tuned_programs_card_turns_on_the_runner_option_tune_chose(tiny_programs, tmp_path):
    """tune writes tuned_runner_flags into a tuned program's card where a runner option won
    (8da4w-2m), with the thread count it won at: the runner then backs the program with 2 MiB
    pages at that thread count, from a verified card, unless --huge_pages is given."""
    import shutil

    from examples.integrity.card import read_card, write_card

    binary = native_runner_or_skip()
    program = tmp_path / "tuned.pte"
    shutil.copyfile(tiny_programs["fp32"], program)
    write_card(program, dict(read_card(tiny_programs["fp32"]), tuned_runner_flags=["--huge_pages=true"], tuned_threads=1))

    def huge_pages(*flags):
        proc = subprocess.run([str(binary), f"--model_path={program}", "--json", "--num_threads=1", *flags,
                               "--max_new_tokens=2",
                               f"--prompt_tokens={PROMPT[0]}"], capture_output=True, text=True, timeout=120,
                              env=dict(os.environ, XNN_RUNNER_TEST_ALLOCATE_MB="8"))
        assert proc.returncode == 0, proc.stderr
        report = json.loads(proc.stdout)
        assert report["verification"] == ("not checked" if "--verify_program=off" in flags else "verified")
        return report["huge_pages"]

    chosen = huge_pages()
    assert chosen["from_card"] and chosen["candidate_bytes"] >= chosen["collapsed_bytes"] >= 3 << 21, chosen
    refused = huge_pages("--huge_pages=false")
    assert not refused["from_card"] and refused["collapsed_bytes"] == 0, refused
    elsewhere = huge_pages("--num_threads=2")  # tune chose it at 1 thread
    assert not elsewhere["from_card"] and elsewhere["collapsed_bytes"] == 0, elsewhere
    unchecked = huge_pages("--verify_program=off")  # a card nobody checked the program against
    assert not unchecked["from_card"] and unchecked["collapsed_bytes"] == 0, unchecked


@pytest.mark.slow
def test_native_runner_accounts_for_its_thread_pool_jobs(tiny_programs):
    """--threadpool_accounting (third-party/pthreadpool, local addition 2) times the pool's
    parallel jobs during decode: at 2 threads every decode step hands the linears and the
    attention to the pool, the jobs' time and the time on one thread add up to the decode time,
    and the threads' busy time fits in the jobs' (wall x threads). At 1 thread the pool runs
    everything inline: no jobs. Without the flag the report has no accounting."""
    binary = native_runner_or_skip()

    def threadpool(*flags):
        proc = subprocess.run([str(binary), f"--model_path={tiny_programs['fp32']}", "--json", *flags,
                               f"--prompt_tokens={','.join(map(str, PROMPT))}", "--max_new_tokens=9"],
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
        report = json.loads(proc.stdout)
        return report["threadpool"], report["decode_ms"]

    pool, decode_ms = threadpool("--num_threads=2", "--threadpool_accounting")
    decode = pool["decode"]
    assert decode["jobs"] == 8 * decode["jobs_per_step"] and decode["jobs_per_step"] >= TINY_MODEL.shape.n_layers, decode
    assert 0 < decode["parallel_ms"] < decode_ms, decode
    assert decode["one_thread_ms"] == pytest.approx(decode_ms - decode["parallel_ms"])
    assert decode["one_thread_share"] == pytest.approx(decode["one_thread_ms"] / decode_ms)
    # busy time fits inside the jobs' wall x threads; how much of it is busy depends on load (a
    # tiny job on a loaded machine is mostly the wait for the other thread)
    assert 0 < decode["busy_share_in_jobs"] <= 1.0, decode
    # the one-thread time split at the delegate's calls into XNNPACK (xnnpack_invoke_timing.cpp)
    xnn = decode["xnnpack"]
    assert xnn["calls"] == 8 * xnn["calls_per_step"] and xnn["calls_per_step"] >= 1, xnn
    assert 0 <= xnn["one_thread_inside_ms"] <= xnn["invoke_ms"] and xnn["one_thread_inside_ms"] <= decode["one_thread_ms"]
    assert xnn["one_thread_inside_ms"] + xnn["one_thread_outside_ms"] == pytest.approx(decode["one_thread_ms"])
    alone, decode_ms = threadpool("--num_threads=1", "--threadpool_accounting")
    assert alone["decode"]["jobs"] == 0 and alone["decode"]["one_thread_ms"] == decode_ms
    # no jobs: all of XNNPACK's time is on the calling thread
    assert alone["decode"]["xnnpack"]["one_thread_inside_ms"] == pytest.approx(alone["decode"]["xnnpack"]["invoke_ms"])
    assert "decode" not in threadpool("--num_threads=2")[0]


@pytest.mark.slow
@pytest.mark.parametrize("program", ["fp32", pytest.param("8da4w", marks=pytest.mark.llm)])
def test_native_runner_reshapes_xnnpack_only_when_a_shape_changes(program, tiny_programs, tmp_path):
    """runtime/text_generation_runner/xnnpack_reshape.cpp: a delegate call whose input shapes are
    those of its runtime's last reshape skips XNNPACK's reshape. The prefill's shapes differ from
    the decode steps', so a skip that ignored them would give other logits (or none); both modes
    must give the same logits, bit for bit, over a prefill and decode steps at 2 threads (8da4w:
    dynamically quantized activations in XNNPACK's workspace)."""
    binary = native_runner_or_skip()
    logits, reshapes = {}, {}
    for mode in ("changed", "every_call"):
        dump = tmp_path / f"{mode}.bin"
        proc = subprocess.run([str(binary), f"--model_path={tiny_programs[program]}", "--num_threads=2", "--json",
                               f"--xnnpack_reshape={mode}", f"--prompt_tokens={','.join(map(str, PROMPT))}",
                               "--max_new_tokens=12"], capture_output=True, text=True, timeout=120,
                              env=dict(os.environ, XNN_RUNNER_TEST_LOGITS=str(dump)))
        assert proc.returncode == 0, proc.stderr
        reshapes[mode] = json.loads(proc.stdout)["xnnpack_reshapes"]
        logits[mode] = dump.read_bytes()
    changed, every_call = reshapes["changed"], reshapes["every_call"]
    if not changed["compiled"]:  # an opt-in build with the delegate compiled in (EXECUTORCH_SOURCE_DIR)
        pytest.skip("this runner's XNNPACK delegate is linked into it: no calls to interpose")
    assert changed["interposed"] and changed["mode"] == "changed", changed  # the delegate's calls reached it
    assert every_call["skipped"] == 0 and every_call["done"] > 0, every_call
    calls = every_call["done"]  # every delegate call of 12 steps
    assert changed["done"] + changed["skipped"] == calls, (changed, every_call)
    # each runtime reshapes for the prefill and for the first decode step, then skips
    assert 0 < changed["done"] <= 2 * calls // 12 and changed["skipped"] >= calls * 10 // 12, changed
    assert logits["changed"] == logits["every_call"] and len(logits["changed"]) > 0
    bad = subprocess.run([str(binary), f"--model_path={tiny_programs['fp32']}", "--xnnpack_reshape=sometimes",
                          f"--prompt_tokens={PROMPT[0]}"], capture_output=True, text=True, timeout=60)
    assert_one_error_line(bad, 2, "--xnnpack_reshape must be changed or every_call")
    bad = subprocess.run([str(binary), f"--model_path={tiny_programs['fp32']}", "--decode_attention=by_row",
                          f"--prompt_tokens={PROMPT[0]}"], capture_output=True, text=True, timeout=60)
    assert_one_error_line(bad, 2, "--decode_attention must be key_rows or per_head")


@pytest.mark.slow
def test_native_runner_reports_its_page_backing_and_the_same_tokens_without_it(tiny_programs):
    """--huge_pages (opt-in) collapses the loaded program's fully resident memory into
    2 MiB pages: the report says how much, the kernel's own count (AnonHugePages) holds at
    least that, and the tokens do not change; --huge_pages=false leaves it in 4 KiB pages. The
    tiny model's weights fill no 2 MiB page, so the runner also holds 8 MiB of written memory
    (XNN_RUNNER_TEST_ALLOCATE_MB, as a delegate's packed weights would be)."""
    binary = native_runner_or_skip()
    reports = {}
    for flag in ("true", "false"):
        proc = subprocess.run([str(binary), f"--model_path={tiny_programs['fp32']}", "--json", f"--huge_pages={flag}",
                               f"--prompt_tokens={','.join(map(str, PROMPT))}", "--max_new_tokens=8"],
                              capture_output=True, text=True, timeout=120,
                              env=dict(os.environ, XNN_RUNNER_TEST_ALLOCATE_MB="8"))
        assert proc.returncode == 0, proc.stderr
        reports[flag] = json.loads(proc.stdout)
    proc = subprocess.run([str(binary), f"--model_path={tiny_programs['fp32']}", "--json", "--max_new_tokens=2",
                           f"--prompt_tokens={PROMPT[0]}"], capture_output=True, text=True, timeout=120,
                          env=dict(os.environ, XNN_RUNNER_TEST_ALLOCATE_MB="8"))
    assert proc.returncode == 0 and json.loads(proc.stdout)["huge_pages"]["collapsed_bytes"] == 0  # opt-in
    on, off = reports["true"]["huge_pages"], reports["false"]["huge_pages"]
    assert on["error"] == "" and "in 2 MiB pages" in on["text"], on
    # 8 MiB hold 3 aligned 2 MiB ranges (a busy host may refuse a collapse now and then: EAGAIN)
    assert on["candidate_bytes"] >= on["collapsed_bytes"] >= 3 << 21, on
    assert on["anon_huge_kb"] * 1024 >= on["collapsed_bytes"], on
    assert off["collapsed_bytes"] == 0 and off["text"] == "4 KiB pages (off)", off
    if "[madvise]" in Path("/sys/kernel/mm/transparent_hugepage/enabled").read_text():  # the default
        assert off["anon_huge_kb"] < 3 << 11, off  # the runner asked for none
    assert reports["true"]["tokens"] == reports["false"]["tokens"]


@pytest.mark.slow
@pytest.mark.llm  # exports 8da4w (minutes): pytest -m llm
def test_teacher_forced_native_logits_are_the_python_runtimes_at_every_position(tiny_programs):
    from examples.common.metrics import sqnr_db
    from examples.runner.text_generation_client import generate_tokens, teacher_forced_logits
    from examples.tune.generation_tuner import program_logits

    binary = native_runner_or_skip()
    program = tiny_programs["8da4w"]
    own = generate_tokens(program, PROMPT, runner="native", max_new_tokens=8)["tokens"]
    fed = [(token * 7 + 3) % 512 for token in own]  # not the program's own choices
    assert fed != own
    native = teacher_forced_logits(program, PROMPT, fed)
    python = program_logits(program, PROMPT, fed)
    assert native.shape == python.shape == (8, 512) and np.std(native) > 0
    assert sqnr_db(python, native) > 40  # the same positions, the same fed tokens
    for flags, fragment in [(["--forced_tokens=1,2,3", "--max_new_tokens=3"], "at most 2 ids, got 3"),
                            (["--forced_tokens=512", "--max_new_tokens=3"], "forced token 512 is outside the vocabulary"),
                            (["--forced_tokens=5", "--stop_tokens=7", "--max_new_tokens=3"], "do not go together")]:
        proc = subprocess.run([str(binary), f"--model_path={program}", "--prompt_tokens=1", *flags],
                              capture_output=True, text=True, timeout=60)
        assert proc.returncode == 2 and fragment in proc.stderr, proc.stderr


@pytest.mark.slow
@pytest.mark.llm  # exports 8da4w (minutes): pytest -m llm
def test_native_runner_matches_the_standin_on_8da4w_and_rejects_bad_input(tiny_programs):
    from examples.runner.text_generation_client import generate_tokens

    binary = native_runner_or_skip()
    native = generate_tokens(tiny_programs["8da4w"], PROMPT, runner="native", max_new_tokens=16, threads=2)
    standin = generate_tokens(tiny_programs["8da4w"], PROMPT, runner="python-standin", max_new_tokens=16, threads=2)
    assert native["tokens"] == standin["tokens"]
    stop = native["tokens"][3]
    stopped = generate_tokens(tiny_programs["8da4w"], PROMPT, runner="native", max_new_tokens=16, stop_tokens=[stop])
    assert stopped["tokens"] == native["tokens"][:native["tokens"].index(stop) + 1]
    assert stopped["stop_reason"] == "stop_token"
    program = str(tiny_programs["fp32"])
    for args, fragment in [(["--prompt_tokens=1"], "--model_path is required"),
                           ([f"--model_path={program}", "--prompt_tokens=1,x"], "comma-separated integers"),
                           ([f"--model_path={program}", "--prompt_tokens=1,512"], "outside the vocabulary"),
                           ([f"--model_path={program}", "--prompt_tokens=1", f"--max_new_tokens={PROGRAM_SEQ_LEN}"],
                            "exceeds the program's KV cache"),
                           (["--model_path=README.md", "--prompt_tokens=1"], "is not a valid ExecuTorch program"),
                           (["--bogus=1"], "unknown flag --bogus"),
                           ([f"--model_path={program}", "--prompt_tokens=1", "--max_new_tokens=x"], "invalid value")]:
        proc = subprocess.run([str(binary), *args], capture_output=True, text=True, cwd=REPO, timeout=60)
        assert_one_error_line(proc, 1 if "not a valid" in fragment else 2, fragment)


@pytest.mark.slow
def test_native_runner_checks_the_program_card_first(tiny_programs, tmp_path):
    """text_generation_runner verifies cards as xnn_executor_runner does: a carded program is
    "verified"; a damaged copy beside its card, or a program without one under require, is
    refused with exit 5 before the runtime reads it."""
    import shutil

    binary = native_runner_or_skip()
    program = tiny_programs["fp32"]

    def run(path: Path, *flags: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(binary), f"--model_path={path}", "--prompt_tokens=1,2", "--max_new_tokens=2",
                               "--json", *flags], capture_output=True, text=True, cwd=REPO, timeout=120)

    ok = run(program)
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["verification"] == "verified"
    damaged = tmp_path / program.name
    data = bytearray(program.read_bytes())
    data[len(data) // 2] ^= 0x01  # one bit of the weights: a valid program with other weights
    damaged.write_bytes(bytes(data))
    shutil.copy(program.with_name(program.name + ".json"), tmp_path / (program.name + ".json"))
    assert_one_error_line(run(damaged), 5, "does not match its card")
    assert run(damaged, "--verify_program=off").returncode == 0  # what the digest alone catches
    bare = tmp_path / "bare" / program.name
    bare.parent.mkdir()
    shutil.copy(program, bare)
    assert_one_error_line(run(bare, "--verify_program=require"), 5, "has no program card")
    assert json.loads(run(bare).stdout)["verification"] == "untrusted (no card)"
    assert_one_error_line(run(program, "--verify_program=maybe"), 2, "--verify_program must be")


@pytest.mark.slow
@pytest.mark.llm  # exports 8da4w (minutes): pytest -m llm
@pytest.mark.parametrize("mode", ["8da4w", "8da4w-pc", "8da4w-kv8"])
def test_8da4w_agrees_with_fp32_on_most_tokens(mode, tiny_programs):
    from examples.generation.agreement import compare
    from examples.generation.decoder import ProgramDecoder, generate

    fp32 = ProgramDecoder(tiny_programs["fp32"], 1)
    q = ProgramDecoder(tiny_programs[mode], 1)
    reference = generate(fp32, PROMPT, 32, Sampler()).tokens
    agreement = compare(reference, generate(q, PROMPT, 32, Sampler()).tokens, q, PROMPT)
    print(f"{mode} vs fp32 (tiny, random weights): {agreement.as_json()}")
    assert agreement.prefix >= 1
    assert agreement.teacher_forced >= 16, agreement  # most of the first 32 next-token choices
    recipe = {"8da4w": "8da4w, group size 32", "8da4w-pc": "8da4w, per channel",
              "8da4w-kv8": "8da4w, group size 32, int8 KV cache"}[mode]
    card = json.loads(Path(str(tiny_programs[mode]) + ".json").read_text())
    assert card["recipe"] == recipe, card["recipe"]
    if mode == "8da4w-pc":  # fewer scales than groups of 32: a smaller file
        assert tiny_programs[mode].stat().st_size < tiny_programs["8da4w"].stat().st_size
    if mode == "8da4w-kv8":  # the program's kernels are the int8 cache's; the native runner has them
        from examples.integrity.describe import describe_program
        from examples.runner.text_generation_client import generate_tokens

        assert "llama::custom_quantized_sdpa.out" in json.dumps(describe_program(tiny_programs[mode].read_bytes()))
        native_runner_or_skip()
        native = generate_tokens(tiny_programs[mode], PROMPT, runner="native", max_new_tokens=16, threads=2)
        standin = generate_tokens(tiny_programs[mode], PROMPT, runner="python-standin", max_new_tokens=16, threads=2)
        assert native["tokens"] == standin["tokens"]


@pytest.mark.slow
def test_sampling_is_seeded_and_errors_are_one_line(tiny_programs):
    from examples.generation.decoder import ProgramDecoder, generate

    decoder = ProgramDecoder(tiny_programs["fp32"], 1)
    runs = [generate(decoder, [1, 2, 3], 12, Sampler(1.0, 0.95, seed)).tokens for seed in (1, 1, 2)]
    assert runs[0] == runs[1] and runs[0] != runs[2]
    too_long = run_cli("examples.backend.token_runner", "--model_path", str(tiny_programs["fp32"]),
                       "--prompt_tokens", "1", "--max_new_tokens", str(PROGRAM_SEQ_LEN))
    assert_one_error_line(too_long, 2, "exceeds the program's KV cache")
    bad_token = run_cli("examples.backend.token_runner", "--model_path", str(tiny_programs["fp32"]),
                        "--prompt_tokens", "1,512")
    assert_one_error_line(bad_token, 2, "outside the vocabulary")


def test_the_client_gives_sampling_flags_only_to_sampling_runs():
    """Greedy runs (the benchmark's, tune's, step_profile's) pass no --top_p / --seed: the runners
    would warn that greedy decoding ignores them."""
    from examples.runner.text_generation_client import command

    for runner in ("native", "python-standin"):
        greedy = command(runner, Path("p.pte"), [1, 2], max_new_tokens=4, binary=Path(__file__))
        assert "--temperature=0.0" in greedy and not any(a.startswith(("--top_p", "--seed")) for a in greedy)
        sampled = command(runner, Path("p.pte"), [1, 2], max_new_tokens=4, binary=Path(__file__), temperature=0.8,
                          top_p=0.9, seed=3)
        assert "--top_p=0.9" in sampled and "--seed=3" in sampled


@pytest.mark.slow
def test_greedy_decoding_says_it_ignores_sampling_flags(tiny_programs):
    """--top_p and --seed with --temperature 0: a warning from both runners, the same greedy tokens."""
    program = str(tiny_programs["fp32"])
    given = run_cli("examples.backend.token_runner", "--model_path", program, "--prompt_tokens", "1,2", "--json",
                    "--seed", "4")
    assert given.returncode == 0, given.stderr
    assert "warning: greedy decoding (--temperature 0) ignores --seed" in given.stderr
    native = subprocess.run([str(native_runner_or_skip()), f"--model_path={program}", "--prompt_tokens=1,2",
                             "--top_p=0.5", "--seed=4", "--json"], capture_output=True, text=True, timeout=120)
    assert native.returncode == 0, native.stderr
    assert "warning: greedy decoding (--temperature 0) ignores --top_p and --seed" in native.stderr
    # still greedy: both runners' tokens are eager's greedy ones (test_fp32_greedy_tokens_equal_eager_pytorch)
    assert json.loads(native.stdout)["tokens"] == json.loads(given.stdout)["tokens"]


@pytest.mark.slow
def test_generate_streams_the_text_of_the_greedy_tokens(tiny_programs, tmp_path):
    from examples.generation.decoder import ProgramDecoder, generate
    from examples.evaluation.tokenizer import TextTokenizer

    model = train_sentencepiece(tmp_path / "tokenizer.model")
    tokenizer = TextTokenizer(model)
    prompt = "Once upon a time"
    proc = run_cli("examples.backend.generate", "--model_path", str(tiny_programs["fp32"]), "--tokenizer",
                   str(model), "--prompt", prompt, "--max_new_tokens", "24")
    assert proc.returncode == 0, proc.stderr
    decoder = ProgramDecoder(tiny_programs["fp32"], 1)
    tokens = generate(decoder, tokenizer.encode(prompt), 24, Sampler(), stop_tokens=tokenizer.stop_ids,
                      vocab_limit=tokenizer.vocab_size).tokens
    shown = [t for t in tokens if t not in tokenizer.stop_ids]
    assert proc.stdout == prompt + tokenizer.decode(shown) + "\n"
    assert "decode" in proc.stderr.splitlines()[-1] and "tok/s" in proc.stderr
    missing = run_cli("examples.backend.generate", "--model_path", str(tiny_programs["fp32"]), "--tokenizer",
                      str(tmp_path / "none.model"), "--prompt", "x")
    assert_one_error_line(missing, 2, "tokenizer file not found")


def test_gguf_writer_round_trip(tmp_path):
    gguf = pytest.importorskip("gguf")
    from examples.generation.gguf_export import GGUF_TYPES, gguf_tensor_name, write_gguf

    state = random_state_dict(TINY_MODEL.shape, seed=5)
    sizes = {}
    for gguf_type in GGUF_TYPES:
        path = write_gguf(state, TINY_MODEL.shape, tmp_path / f"tiny_{gguf_type}.gguf", gguf_type, context_length=64)
        sizes[gguf_type] = path.stat().st_size
        reader = gguf.GGUFReader(path)
        tensors = {t.name: t for t in reader.tensors}
        assert set(tensors) == {gguf_tensor_name(k) for k in state}
        assert int(reader.fields["llama.block_count"].parts[-1][0]) == TINY_MODEL.shape.n_layers
        q = tensors["blk.1.attn_q.weight"]
        values = gguf.quants.dequantize(q.data, q.tensor_type).reshape(64, 64)
        error = np.abs(values - state["layers.1.attention.wq.weight"].numpy()).max()
        assert error == 0 if gguf_type == "F32" else 0 < error < 0.01
    assert sizes["F32"] > sizes["Q8_0"] > sizes["Q4_0"]


@pytest.mark.slow
@pytest.mark.llm  # exports 8da4w (minutes): pytest -m llm
def test_generation_bench_rows_and_table(tiny_programs, tmp_path):
    from examples.benchmark.generation_runs import llama_cpp_available, run_model, table
    from examples.generation.gguf_export import GGUF_TYPES, write_gguf

    artifacts = {"fp32": tiny_programs["fp32"], "8da4w": tiny_programs["8da4w"]}
    with_llama_cpp = llama_cpp_available()
    if with_llama_cpp:
        state = random_state_dict(TINY_MODEL.shape, seed=0)  # the weights the fixture exported
        for gguf_type in GGUF_TYPES:
            artifacts[gguf_type] = write_gguf(state, TINY_MODEL.shape, tmp_path / f"t_{gguf_type}.gguf", gguf_type,
                                              context_length=MAX_SEQ_LEN)
    rows = run_model(TINY_MODEL, artifacts, [1], "python-standin", PROMPT, 8, 1)
    assert [r.error for r in rows] == [None] * len(rows)
    text = table(rows, not with_llama_cpp)
    fp32_line = next(line for line in text.splitlines() if "| fp32" in line)
    assert "8/8" in fp32_line and "python-standin" in fp32_line
    if with_llama_cpp:  # same weights, same prompt: llama.cpp F32 must pick the same greedy tokens
        tokens = {r.variant: r.reports[0]["tokens"] for r in rows}
        assert tokens["F32"] == tokens["fp32"]
    else:
        assert "not installed" in text


def test_generation_bench_interleaves_rounds_and_compares_with_llama_cpp(monkeypatch):
    """Rounds are interleaved across every configuration; the ratio line divides ExecuTorch 8da4w
    by llama.cpp Q4_0 medians; RSS growth is peak minus the process's own baseline."""
    from types import SimpleNamespace

    from examples.benchmark import generation_runs
    from examples.runner import text_generation_client

    calls = []

    def fake(program, prompt, *, runner, threads, max_new_tokens, timeout, extra_flags=()):
        calls.append((program.name, threads))
        fast = program.name.endswith("8da4w.pte")
        return {"tokens": [1, 2], "prefill_tok_s": 300.0 if fast else 200.0, "decode_tok_s": 60.0 if fast else 50.0,
                "time_to_first_token_ms": 10.0 if fast else 20.0, "peak_rss_kb": 300 * 1024,
                "baseline_rss_kb": (100 if fast else 200) * 1024}

    monkeypatch.setattr(text_generation_client, "generate_tokens", fake)
    artifacts = {"8da4w": Path("m_8da4w.pte"), "Q4_0": Path("m_Q4_0.gguf")}
    model = SimpleNamespace(name="m")
    rows = generation_runs.run_model(model, artifacts, [1, 2], "native", [1, 5], 2, rounds=8)
    # Every row once per round and thread count, the thread counts in turn, rows in a new random
    # order each round (seeded): not always the same row first.
    blocks = [calls[k:k + 2] for k in range(0, len(calls), 2)]
    assert [{threads for _, threads in block} for block in blocks] == [{1}, {2}] * 8
    assert all(sorted(name for name, _ in block) == ["m_8da4w.pte", "m_Q4_0.gguf"] for block in blocks)
    assert len({block[0][0] for block in blocks}) == 2
    first_run = list(calls)
    calls.clear()
    generation_runs.run_model(model, artifacts, [1, 2], "native", [1, 5], 2, rounds=8)
    assert calls == first_run  # the same seed, the same order
    calls.clear()
    rows = generation_runs.run_model(model, artifacts, [1, 2], "native", [1, 5], 2, rounds=2)
    assert all(len(r.reports) == 2 for r in rows)
    lines = generation_runs.ratios(rows)
    assert lines[0] == ("m, 1 thread(s): ExecuTorch 8da4w / llama.cpp Q4_0: prefill 1.50x, decode 1.20x, "
                        "TTFT 0.50x (lower is better), RSS growth 2.00x (lower is better)")
    text = generation_runs.table(rows, False)
    header = [c.strip() for c in text.splitlines()[0].split("|")]
    row = [c.strip() for c in next(line for line in text.splitlines() if "8da4w" in line).split("|")]
    assert row[header.index("RSS growth MiB")] == "200"  # peak 300 - baseline 100 MiB


def test_llama_cpp_f32_greedy_tokens_equal_eager_pytorch(tmp_path):
    """The peer on the same weights: llama.cpp F32 (GGUF written here) picks eager PyTorch's greedy
    tokens. It once read logits from an array llama-cpp-python leaves zero: every token was 0."""
    pytest.importorskip("llama_cpp")
    import torch

    from examples.generation.eager_reference import build_eager, greedy_tokens
    from examples.generation.gguf_export import write_gguf
    from examples.runner.text_generation_client import generate_tokens

    weights = prepare_weights(TINY_MODEL, "random", tmp_path / "w", seed=0)
    state = torch.load(weights.checkpoint, weights_only=True)
    gguf = write_gguf(state, TINY_MODEL.shape, tmp_path / "tiny_F32.gguf", "F32", context_length=MAX_SEQ_LEN)
    expected = greedy_tokens(build_eager(weights.params, weights.checkpoint, MAX_SEQ_LEN), PROMPT, 16)
    report = generate_tokens(gguf, PROMPT, runner="llama.cpp", threads=1, max_new_tokens=16, timeout=300)
    assert report["tokens"] == expected and len(set(expected)) > 1
    assert 0 < report["baseline_rss_kb"] <= report["peak_rss_kb"]


def test_step_profiles_follow_the_methods_in_the_order_they_ran():
    """A program with a prefill method leaves one event block per method (prefill's one run, then
    forward's steps): the profile is their runs in that order, the loading block left out."""
    from types import SimpleNamespace as NS

    from examples.generation.step_events import step_profiles

    def event(name, *ms):
        return NS(name=name, perf_data=NS(raw=list(ms)))

    inspector = NS(event_blocks=[
        NS(events=[event("Method::init", 5.0, 6.0), event("Program::load_method", 1.0, 1.0)]),
        NS(events=[event("Method::execute", 9.0), event("DELEGATE_CALL", 8.0), event("Fully Connected (NC, F32) GEMM #1", 7.0)]),
        NS(events=[event("Method::execute", 2.0, 3.0), event("DELEGATE_CALL", 1.5, 2.5),
                   event("Fully Connected (NC, QDU8, F32, QB4W) GEMM #1", 1.0, 2.0), event("llama::custom_sdpa.out", 0.25, 0.5)]),
    ])
    profiles = step_profiles(inspector, 3)
    assert [p["execute_ms"] for p in profiles] == [9.0, 2.0, 3.0]
    assert profiles[0]["operators"] == {"Fully Connected (NC, F32) GEMM": 7.0} and profiles[0]["delegate_ms"] == 8.0
    assert profiles[2]["operators"] == {"Fully Connected (NC, QDU8, F32, QB4W) GEMM": 2.0, "llama::custom_sdpa.out": 0.5}
    with pytest.raises(Exception, match="no Method::execute event per step"):
        step_profiles(inspector, 4)


@pytest.mark.slow
@pytest.mark.parametrize("runtime", ["native", "python"])
def test_step_profile_splits_prefill_and_decode(tiny_programs, tmp_path, python_env, runtime):
    """One prefill and the decode steps of the tiny fp32 program, in the profiling build's native
    runner and in the Python runtime: every step's operators (XNNPACK's inside the delegate, the
    custom SDPA outside) add up to no more than its execute time."""
    from examples.integrity.verify import verify_program

    card = verify_program(tiny_programs["fp32"], "require").card  # every export writes its card
    assert (card["model"], card["backend"], card["precision"]) == ("tiny", "xnnpack", "fp32")
    assert [i["dtype"] for i in card["methods"]["forward"]["inputs"]] == ["int64", "int64"]
    if runtime == "native":
        from tests.helpers_runner import PROF_DIR, ensure_runner

        ensure_runner(PROF_DIR, "-DEXECUTORCH_PROF_ENABLED=ON", "-DBUILD_TEXT_GENERATION_RUNNER=ON")  # current
    out = tmp_path / "profile.json"
    done = subprocess.run([sys.executable, "-m", "examples.backend.step_profile", "--model_path",
                           str(tiny_programs["fp32"]), "--prompt_len", "8", "--decode_steps", "3", "--runner", runtime,
                           "--num_threads", "2", "--json", str(out)],
                          capture_output=True, text=True, env=python_env, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "prefill (8 tokens)" in done.stdout and "decode step (mean of 3)" in done.stdout
    profile = json.loads(out.read_text())
    assert profile["runner"] == runtime and profile["threads"] == 2
    for step in ("prefill", "decode_step"):
        ops = profile[step]["operators"]
        assert "llama::custom_sdpa.out" in ops and any("GEMM" in name for name in ops), sorted(ops)
        assert 0 < sum(ops.values()) <= profile[step]["execute_ms"] * 1.01
    assert profile["prompt_len"] == 8 and profile["decode_steps"] == 3
    if runtime == "python":
        assert "threadpool" not in profile
        return
    pool = profile["threadpool"]  # the release build's accounting of the same steps
    assert pool["jobs_per_step"] > 0 and 0 < pool["one_thread_share"] < 1 and pool["step_ms"] > 0, pool
    assert "thread pool over the decode steps" in done.stdout
    bad = subprocess.run([sys.executable, "-m", "examples.backend.step_profile", "--model_path", "nope.pte"],
                         capture_output=True, text=True, env=python_env, timeout=120)
    assert bad.returncode == 2 and bad.stderr.strip() == "error: model file not found: nope.pte"
    # the default build has no ETDump: it says so instead of ignoring the flag
    plain = subprocess.run([str(native_runner_or_skip()), f"--model_path={tiny_programs['fp32']}", "--prompt_tokens=1,2",
                            f"--prof_result_path={tmp_path / 'x.etdp'}"], capture_output=True, text=True, timeout=60)
    assert plain.returncode == 2 and "needs the profiling build" in plain.stderr and not (tmp_path / "x.etdp").exists()


@pytest.mark.slow
@pytest.mark.llm  # the tiny model's int8-cache export (about 35 s)
def test_an_int8_cache_program_reaches_the_runners_per_token_kernels(tiny_programs, tmp_path, python_env):
    """The exporter's int8-cache program carries the kernel key op_per_token_int8.cpp registers:
    its profile names the runner's kernels (their own names), not the wheel's ("native_call_")."""
    from tests.helpers_runner import PROF_DIR, ensure_runner

    ensure_runner(PROF_DIR, "-DEXECUTORCH_PROF_ENABLED=ON", "-DBUILD_TEXT_GENERATION_RUNNER=ON")
    out = tmp_path / "profile.json"
    done = subprocess.run([sys.executable, "-m", "examples.backend.step_profile", "--model_path",
                           str(tiny_programs["8da4w-kv8"]), "--prompt_len", "8", "--decode_steps", "2",
                           "--runner", "native", "--json", str(out)],
                          capture_output=True, text=True, env=python_env, timeout=300)
    assert done.returncode == 0, done.stderr
    profile = json.loads(out.read_text())
    for step in ("prefill", "decode_step"):
        ops = profile[step]["operators"]
        for name in ("quantize_per_token.out", "choose_qparams_per_token_asymmetric.out"):
            assert f"quantized_decomposed::{name}" in ops and f"native_call_{name}" not in ops, sorted(ops)


@pytest.mark.slow
@pytest.mark.llm  # the tiny model's two-method exports (about a minute each)
def test_an_fp32_prefill_program_prefills_in_fp32_and_decodes_on_the_same_cache(tiny_programs, tmp_path, python_env):
    """8da4w-fp32prefill: both runners prefill with method "prefill" (the fp32 linears) and decode
    with forward over the cache the prefill wrote. Reference: the same calls in the Python
    runtime (its host methods share arenas); a forward over a cache nobody wrote is far from it.
    A prefill method with a cache of its own is refused by both runners."""
    import executorch.extension.llm.custom_ops.custom_ops  # noqa: F401  (the wheel's kernels)
    from executorch.runtime import Runtime

    from examples.generation.prefill_split import export_fp32_prefill_program
    from examples.models.llama_zoo import prepare_weights
    from examples.runner.text_generation_client import generate_tokens

    program = tiny_programs["8da4w-fp32prefill"]
    dump = tmp_path / "logits.bin"
    proc = subprocess.run([str(native_runner_or_skip()), f"--model_path={program}", "--json",
                           f"--prompt_tokens={','.join(map(str, PROMPT))}", "--max_new_tokens=12"],
                          capture_output=True, text=True, timeout=120, env=dict(os.environ, XNN_RUNNER_TEST_LOGITS=str(dump)))
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["prefill_method"] == "prefill"
    native = np.fromfile(dump, dtype=np.float32).reshape(len(report["tokens"]), -1)

    def step(method, ids, position):
        return method.execute([torch.tensor([ids]), torch.tensor([position])])[0].numpy().reshape(-1, native.shape[1])[-1]

    loaded = Runtime.get().load_program(str(program))
    prefill, forward = loaded.load_method("prefill"), loaded.load_method("forward")
    reference = [step(prefill, PROMPT, 0)]
    reference += [step(forward, [t], len(PROMPT) + i) for i, t in enumerate(report["tokens"][:-1])]
    scale = float(np.abs(reference[0]).max())
    np.testing.assert_allclose(native, np.stack(reference), rtol=0, atol=1e-5 * scale)
    quantized = step(Runtime.get().load_program(str(program)).load_method("forward"), PROMPT, 0)
    assert np.abs(quantized - reference[0]).max() > 100 * 1e-5 * scale  # forward's 8da4w prefill is another
    cold = step(Runtime.get().load_program(str(program)).load_method("forward"), report["tokens"][:1], len(PROMPT))
    assert np.abs(cold - reference[1]).max() > 0.1 * scale  # over a cache nobody wrote
    from examples.generation.decoder import ProgramDecoder

    decoder = ProgramDecoder(program)  # the stand-in's (greedy tokens alone may not tell the methods apart)
    np.testing.assert_allclose(decoder.forward(PROMPT, 0), reference[0], rtol=0, atol=1e-5 * scale)
    np.testing.assert_allclose(decoder.forward(report["tokens"][:1], len(PROMPT)), reference[1], rtol=0, atol=1e-5 * scale)
    standin = generate_tokens(program, PROMPT, runner="python-standin", max_new_tokens=12)
    assert standin["prefill_method"] == "prefill" and standin["tokens"] == report["tokens"]

    profile = tmp_path / "profile.json"  # the profile's prefill is the fp32 method's
    done = subprocess.run([sys.executable, "-m", "examples.backend.step_profile", "--model_path", str(program),
                           "--prompt_len", "8", "--decode_steps", "2", "--runner", "native", "--json", str(profile)],
                          capture_output=True, text=True, env=python_env, timeout=300)
    assert done.returncode == 0, done.stderr
    steps = json.loads(profile.read_text())
    assert "Fully Connected (NC, F32) GEMM" in steps["prefill"]["operators"]
    assert "Fully Connected (NC, QDU8, F32, QB4W) GEMM" in steps["decode_step"]["operators"]

    from examples.generation.llama_export import LlamaExportOptions
    from examples.runner.text_generation_client import RunnerFailed

    from examples.generation.bytes_per_token import bytes_per_token

    # a decode step reads forward's weights, the 8da4w program's, not the fp32 prefill's too (the
    # second method's part of the flatbuffer stays counted: 22 KB here, 0.1 MB for stories110m)
    split, alone, fp32 = (bytes_per_token("executorch", p, TINY_MODEL.shape, 10)
                          for p in (program, tiny_programs["8da4w"], tiny_programs["fp32"]))
    assert alone["weights"] <= split["weights"] < alone["weights"] + 0.1 * fp32["weights"]
    assert split["other_methods"] > 0.5 * fp32["weights"] and alone["other_methods"] == 0  # the fp32 linears
    options = LlamaExportOptions(quantize=True, max_seq_len=PROGRAM_SEQ_LEN, fp32_prefill=True)
    own_caches = export_fp32_prefill_program(TINY_MODEL, prepare_weights(TINY_MODEL, "random", tmp_path, 0), options,
                                             tmp_path / "own_caches.pte", share_kv_cache=False)
    for runner in ("native", "python-standin"):
        with pytest.raises(RunnerFailed, match="does not share forward's KV cache"):
            generate_tokens(own_caches, PROMPT, runner=runner, max_new_tokens=2)


def test_generation_bench_keeps_its_build_key_in_the_program_card(tmp_path):
    """One card per program: the benchmark's reuse key is a section of it, not a second file of
    the card's name with another schema."""
    from examples.benchmark.generation_runs import _stamp, _write_stamp
    from examples.integrity.card import make_card, read_card, write_card
    from examples.integrity.verify import verify_program

    program = tmp_path / "m_xnnpack_fp32.pte"
    program.write_bytes(b"program bytes")
    write_card(program, make_card(program, model="m", backend="xnnpack", precision="fp32"))
    fields = {"weights": "random:0", "options": "o"}
    assert not _stamp(program, fields)
    _write_stamp(program, fields)
    assert _stamp(program, fields) and not _stamp(program, {**fields, "weights": "random:1"})
    assert read_card(program)["model"] == "m" and verify_program(program, "require").trusted
    gguf = tmp_path / "m_Q4_0.gguf"
    gguf.write_bytes(b"gguf")
    _write_stamp(gguf, fields)
    assert _stamp(gguf, fields)
