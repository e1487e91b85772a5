"""RMSNorm and RoPE in forms XNNPACK takes whole, and greedy XNNPACK partitions
(examples/generation/xnnpack_forms.py, llama_export's ``merged_partitions``): the same numbers,
and a block no longer cut into many delegate calls."""

from __future__ import annotations

import copy

import pytest
import torch

from examples.generation.xnnpack_forms import RMSNormBySum, RotaryByPairSwap, interleaved_tables, xnnpack_forms
from tests.helpers_generation import MAX_SEQ_LEN, PROMPT, TINY_MODEL

HEAD_DIM, HEADS, SEQ = 64, 4, 16


def exporter_rope_tables(positions: int = SEQ):
    from executorch.examples.models.llama.rope import precompute_freqs_cis

    return precompute_freqs_cis(HEAD_DIM, positions, 10000.0)


def test_rotary_by_pair_swap_gives_the_exporters_floats():
    from executorch.examples.models.llama.rope import RotaryEmbedding

    torch.manual_seed(0)
    q, k = torch.randn(1, SEQ, HEADS, HEAD_DIM), torch.randn(1, SEQ, HEADS // 2, HEAD_DIM)
    cos, sin = exporter_rope_tables()
    expected = RotaryEmbedding()(q, k, cos, sin)
    ours = RotaryByPairSwap(HEAD_DIM)(q, k, *interleaved_tables(cos, sin))
    assert not torch.equal(expected[0], q)  # it rotates
    assert torch.equal(ours[0], expected[0]) and torch.equal(ours[1], expected[1])


def test_norm_by_sum_matches_rmsnorm():
    from executorch.examples.models.llama.norm import RMSNorm

    torch.manual_seed(0)
    norm = RMSNorm(96, eps=1e-5)
    torch.nn.init.normal_(norm.weight)
    x = torch.randn(1, 7, 96) * 3
    torch.testing.assert_close(RMSNormBySum(norm)(x), norm(x), rtol=1e-6, atol=1e-6)


@pytest.fixture(scope="module")
def eager(tmp_path_factory):
    from examples.generation.eager_reference import build_eager
    from examples.models.llama_zoo import prepare_weights

    with pytest.warns(UserWarning):
        weights = prepare_weights(TINY_MODEL, "random", tmp_path_factory.mktemp("w"), seed=0)
    return build_eager(weights.params, weights.checkpoint, MAX_SEQ_LEN)


def test_forms_keep_the_tiny_models_logits(eager):
    from executorch.examples.models.llama.norm import RMSNorm

    ours = xnnpack_forms(copy.deepcopy(eager))
    assert not any(type(m) is RMSNorm for m in ours.modules())
    assert sum(type(m) is RotaryByPairSwap for m in ours.modules()) == 1
    with torch.no_grad():
        reference, logits = eager(torch.tensor([PROMPT])), ours(torch.tensor([PROMPT]))
    reference = reference[0] if isinstance(reference, tuple) else reference
    logits = logits[0] if isinstance(logits, tuple) else logits
    assert reference.abs().max() > 0.05  # the logits carry signal
    torch.testing.assert_close(logits, reference, rtol=1e-5, atol=1e-5)


def test_a_model_without_norms_or_rope_is_refused(eager):
    with pytest.raises(ValueError, match="no RMSNorm and interleaved rotary embedding"):
        xnnpack_forms(torch.nn.Sequential(torch.nn.Linear(4, 4)))
    hf_rope = copy.deepcopy(eager)
    hf_rope.rope.apply_rotary_emb = torch.nn.Identity()  # where the Hugging Face layout's module would be
    with pytest.raises(ValueError, match="no interleaved rotary embedding"):
        xnnpack_forms(hf_rope)


def test_a_table_that_does_not_fit_the_heads_is_refused():
    cos, sin = interleaved_tables(*exporter_rope_tables())
    q = torch.randn(1, SEQ, HEADS, HEAD_DIM)
    with pytest.raises(AssertionError):
        RotaryByPairSwap(HEAD_DIM)(q, q, cos[:1], sin[:1])  # one row for SEQ positions would broadcast


def test_export_applies_both_options(monkeypatch, tmp_path):
    """export_llama_program hands the exporter the forms among its source transforms and the view
    pass among its edge passes, lowers with the greedy partitioner, and leaves the exporter as it was."""
    from pathlib import Path
    from types import SimpleNamespace

    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackDynamicallyQuantizedPartitioner
    from executorch.examples.models.llama import export_llama_lib
    from executorch.examples.models.llama.export_llama_lib import DType
    from executorch.extension.llm.export.builder import LLMEdgeManager

    from examples.export.xnnpack_decompositions import infer_single_dynamic_dim
    from examples.generation.llama_export import LlamaExportOptions, export_llama_program

    seen = {}

    def record_lowering(self, partitioners, transform_passes=None):
        seen["edge_passes"] = list(transform_passes or [])

    monkeypatch.setattr(LLMEdgeManager, "to_edge_transform_and_lower", record_lowering)
    own_lowering = LLMEdgeManager.to_edge_transform_and_lower

    def fake_export(config):
        seen["transforms"] = export_llama_lib._get_source_transforms(DType.fp32)
        seen["partitioner"] = type(export_llama_lib.get_xnnpack_partitioner(dynamic_quant_only_partitioner=True))
        LLMEdgeManager.to_edge_transform_and_lower(object(), [])  # as the exporter lowers
        Path(config.export.output_name).write_bytes(b"program")
        return config.export.output_name

    monkeypatch.setattr(export_llama_lib, "export_llama", fake_export)
    weights = SimpleNamespace(params=tmp_path / "params.json", checkpoint=tmp_path / "model.pth")
    for whole in (True, False):
        options = LlamaExportOptions(quantize=True, merged_partitions=whole, xnnpack_forms=whole)
        export_llama_program(TINY_MODEL, weights, options, tmp_path / f"out_{whole}.pte")
        assert (xnnpack_forms in seen["transforms"]) is whole
        assert (seen["partitioner"] is XnnpackDynamicallyQuantizedPartitioner) is not whole
        assert seen["edge_passes"] == ([infer_single_dynamic_dim] if whole else [])
    assert type(export_llama_lib.get_xnnpack_partitioner()) is XnnpackDynamicallyQuantizedPartitioner
    assert LLMEdgeManager.to_edge_transform_and_lower is own_lowering


def test_the_two_method_export_runs_the_view_pass_with_the_forms(monkeypatch, tmp_path):
    """The fp32-prefill export lowers both methods itself: it passes the view pass along."""
    import executorch.exir
    from executorch.examples.models.llama import export_llama_lib
    from types import SimpleNamespace

    from examples.export.xnnpack_decompositions import infer_single_dynamic_dim
    from examples.generation import prefill_split
    from examples.generation.llama_export import LlamaExportOptions

    class FakeBuilder:
        metadata, pre_autograd_graph_module = {}, None

        def export(self):
            return self

        def run_canonical_optimizations(self):
            pass

        def _export(self, module):
            return "program"

        def _get_edge_config(self):
            return None

        def to_executorch(self, share_mutable_buffers):
            return SimpleNamespace(save_to_pte=lambda path: None)

    seen = {}

    def record_lowering(programs, transform_passes=None, **kwargs):
        seen["passes"] = transform_passes

    monkeypatch.setattr(export_llama_lib, "_prepare_for_llama_export", lambda config: FakeBuilder())
    monkeypatch.setattr(executorch.exir, "to_edge_transform_and_lower", record_lowering)
    weights = SimpleNamespace(params=tmp_path / "params.json", checkpoint=tmp_path / "model.pth")
    for forms in (True, False):
        options = LlamaExportOptions(quantize=True, fp32_prefill=True, xnnpack_forms=forms)
        prefill_split.export_fp32_prefill_program(TINY_MODEL, weights, options, tmp_path / "out.pte")
        assert seen["passes"] == ([infer_single_dynamic_dim] if forms else None)


class NormThenRope(torch.nn.Module):
    """A block's entry: norm, a projection, RoPE; dynamic sequence length as in the programs."""

    def __init__(self, norm, rope, cos, sin):
        super().__init__()
        self.norm, self.rope = norm, rope
        self.project = torch.nn.Linear(HEADS * HEAD_DIM, HEADS * HEAD_DIM, bias=False)
        self.register_buffer("cos", cos, persistent=False)
        self.register_buffer("sin", sin, persistent=False)

    def forward(self, x):
        q = self.project(self.norm(x)).view(1, x.shape[1], HEADS, HEAD_DIM)
        cos, sin = self.cos[: x.shape[1]], self.sin[: x.shape[1]]
        return self.rope(q, q, cos, sin)[0]


def undelegated_ops(module: torch.nn.Module, passes=None) -> list[str]:
    """The compute ops left outside the XNNPACK delegate, by name (size reads aside)."""
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    from executorch.exir import to_edge_transform_and_lower

    x = torch.randn(1, 4, HEADS * HEAD_DIM)
    seq = torch.export.Dim("seq", min=1, max=SEQ)
    program = torch.export.export(module, (x,), dynamic_shapes=({1: seq},), strict=False)
    graph = to_edge_transform_and_lower(program, transform_passes=passes,
                                        partitioner=[XnnpackPartitioner()]).exported_program().graph
    names = [node.target.name() if hasattr(node.target, "name") else str(node.target)
             for node in graph.nodes if node.op == "call_function"]
    return [name for name in names if not any(skip in name for skip in
                                              ("call_delegate", "getitem", "sym_size", "dim_order"))]


def test_the_forms_leave_no_portable_op_between_norm_and_rope():
    from executorch.examples.models.llama.norm import RMSNorm
    from executorch.examples.models.llama.rope import RotaryEmbedding

    from examples.export.xnnpack_decompositions import infer_single_dynamic_dim

    torch.manual_seed(0)
    cos, sin = exporter_rope_tables()
    norm = RMSNorm(HEADS * HEAD_DIM)
    original = undelegated_ops(NormThenRope(norm, RotaryEmbedding(), cos, sin))
    assert "aten::mean.dim" in original and original.count("aten::slice_copy.Tensor") > 2, original
    forms = NormThenRope(RMSNormBySum(norm), RotaryByPairSwap(HEAD_DIM), *interleaved_tables(cos, sin))
    # Without the view pass, the views naming the sequence length stay outside and cut the block.
    assert "aten::view_copy" in undelegated_ops(forms)
    # Only the tables' rows for the positions are cut outside: two slices.
    ours = undelegated_ops(forms, passes=[infer_single_dynamic_dim])
    assert ours == ["aten::slice_copy.Tensor"] * 2, ours


def test_merged_partitions_lower_with_one_greedy_partitioner():
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackDynamicallyQuantizedPartitioner
    from executorch.examples.models.llama import export_llama_lib

    from executorch.extension.llm.export.config.llm_config import LlmConfig

    from examples.generation.llama_export import merged_xnnpack_partitions

    config = LlmConfig()
    config.backend.xnnpack.enabled = True
    config.backend.xnnpack.extended_ops = True
    own = export_llama_lib._get_xnnpack_partitioners(config)
    assert type(own[0]) is XnnpackDynamicallyQuantizedPartitioner
    with merged_xnnpack_partitions(True):
        merged = export_llama_lib._get_xnnpack_partitioners(config)
    assert merged and all(type(p) is not XnnpackDynamicallyQuantizedPartitioner for p in merged)
    assert type(export_llama_lib._get_xnnpack_partitioners(config)[0]) is XnnpackDynamicallyQuantizedPartitioner


def test_later_options_join_the_build_stamp_only_when_set():
    import dataclasses

    from examples.generation.llama_export import LlamaExportOptions, options_stamp, program_filename

    options = LlamaExportOptions(quantize=True)
    stamp = options_stamp(options)
    assert stamp.endswith("output_bits=4)") and "merged" not in stamp  # stamps written before still match
    both = dataclasses.replace(options, merged_partitions=True, xnnpack_forms=True)
    assert options_stamp(both).endswith("output_bits=4, merged_partitions=True, xnnpack_forms=True)")
    from examples.generation.llama_export import LlamaExportError, check_options

    with pytest.raises(LlamaExportError, match="extended XNNPACK ops"):
        check_options(TINY_MODEL, dataclasses.replace(both, extended_ops=False))
    with pytest.raises(LlamaExportError, match="quantized"):
        check_options(TINY_MODEL, LlamaExportOptions(merged_partitions=True))
    assert program_filename("stories110m", both) == "stories110m_xnnpack_8da4w_merged_forms.pte"


def forward_kernels_and_delegate_calls(program) -> tuple[list[str], int]:
    from examples.generation.program_file import program_flatbuffer

    plan = next(p for p in program_flatbuffer(program)[0].execution_plan if p.name == "forward")
    kernels, calls = [], 0
    for instruction in plan.chains[0].instructions:
        kind = type(instruction.instr_args).__name__
        if kind == "KernelCall":
            kernels.append(plan.operators[instruction.instr_args.op_index].name)
        calls += kind == "DelegateCall"
    return kernels, calls


@pytest.mark.llm
@pytest.mark.slow
def test_a_program_with_merged_partitions_and_the_forms_has_fewer_delegate_calls_and_the_same_tokens(tmp_path):
    """The tiny model exported as the exporter does and with both options: its blocks lose every
    portable mean / pair split and most delegate calls; logits over teacher-forced positions
    agree, and the native runner's greedy tokens are the same."""
    import numpy as np

    from examples.generation.llama_export import LlamaExportOptions, program_filename
    from examples.generation.model_export import export_language_model
    from examples.runner.text_generation_client import generate_tokens
    from examples.tune.generation_tuner import program_logits

    programs = {}
    for whole in (False, True):
        options = LlamaExportOptions(quantize=True, max_seq_len=64, merged_partitions=whole, xnnpack_forms=whole)
        programs[whole] = export_language_model(TINY_MODEL, options, "random",
                                                tmp_path / program_filename("tiny", options), seed=0)
    from examples.integrity.card import read_card

    assert read_card(programs[True])["recipe"].endswith("merged XNNPACK partitions, RMSNorm and RoPE in XNNPACK forms")
    (own_kernels, own_calls), (kernels, calls) = (forward_kernels_and_delegate_calls(programs[w]) for w in (False, True))
    assert "aten::mean" in own_kernels and "aten::squeeze_copy" in own_kernels
    assert "aten::mean" not in kernels and "aten::squeeze_copy" not in kernels, kernels
    layers = TINY_MODEL.shape.n_layers
    assert own_calls >= 8 * layers and calls <= layers + 2, (own_calls, calls)
    continuation = [7, 99, 250, 3]
    own, ours = (program_logits(programs[w], PROMPT, continuation) for w in (False, True))
    assert np.abs(own).max() > 0.05
    np.testing.assert_allclose(ours, own, rtol=1e-4, atol=1e-4)
    tokens = {w: generate_tokens(programs[w], PROMPT, runner="native", max_new_tokens=12)["tokens"] for w in programs}
    assert tokens[True] == tokens[False]
