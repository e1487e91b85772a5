"""Fused q/k/v and w1/w3 projections (examples/generation/fused_projections.py): fewer linears,
the same numbers before and after the LLM exporter's 8da4w quantization."""

from __future__ import annotations

import copy

import pytest
import torch

from examples.generation.fused_projections import fuse_projections
from tests.helpers_generation import MAX_SEQ_LEN, PROMPT, TINY_MODEL


@pytest.fixture(scope="module")
def eager(tmp_path_factory):
    from examples.generation.eager_reference import build_eager
    from examples.models.llama_zoo import prepare_weights

    with pytest.warns(UserWarning):
        weights = prepare_weights(TINY_MODEL, "random", tmp_path_factory.mktemp("w"), seed=0)
    return build_eager(weights.params, weights.checkpoint, MAX_SEQ_LEN)


def linears(model: torch.nn.Module) -> int:
    return sum(type(m) is torch.nn.Linear for m in model.modules())


def logits(model: torch.nn.Module, tokens=PROMPT) -> torch.Tensor:
    with torch.no_grad():
        out = model(torch.tensor([tokens]))
    return out[0] if isinstance(out, tuple) else out


def test_fusion_leaves_four_linears_per_block_and_the_logits(eager):
    layers = TINY_MODEL.shape.n_layers
    fused = fuse_projections(copy.deepcopy(eager))
    assert linears(eager) - linears(fused) == 3 * layers  # 7 -> 4 per block (wqkv, wo, w13, w2)
    reference = logits(eager)
    assert reference.abs().max() > 0.05  # the logits carry signal
    torch.testing.assert_close(logits(fused), reference, rtol=1e-5, atol=1e-6)
    other = [7, 8, 9]  # another input right after: nothing of the last forward is reused
    torch.testing.assert_close(logits(fused, other), logits(eager, other), rtol=1e-5, atol=1e-6)


def test_each_fused_linear_runs_once_per_block_forward(eager):
    """The work is what goes away: one matmul for q/k/v and one for w1/w3, not one per slice."""
    fused = fuse_projections(copy.deepcopy(eager))
    calls = []
    for name, module in fused.named_modules():
        if name.endswith(("wqkv.fused", "w13.fused")):
            module.register_forward_hook(lambda m, *_, name=name: calls.append(name))
    logits(fused)
    assert len(calls) == 2 * TINY_MODEL.shape.n_layers and len(set(calls)) == len(calls), calls


def test_8da4w_of_the_fused_model_is_the_8da4w_of_the_model(eager):
    """Weights are quantized per output row in groups along the input and activations per row,
    so the fused linear's quantized rows are the separate linears' rows: identical logits."""
    from executorch.examples.models.llama.source_transformation.quantize import quantize

    def quantized(model):
        return quantize(model, qmode="8da4w", group_size=32, computation_dtype=None, checkpoint_dtype=None)

    plain = quantized(copy.deepcopy(eager))
    fused = quantized(fuse_projections(copy.deepcopy(eager)))
    assert torch.equal(logits(fused), logits(plain))


def test_a_model_without_plain_projections_is_refused():
    with pytest.raises(ValueError, match="no block"):
        fuse_projections(torch.nn.Sequential(torch.nn.Linear(4, 4)))


def test_the_exporter_runs_the_fusion_before_its_own_transforms():
    """``fuse_projections=True`` reaches ExecuTorch's LLM exporter ahead of its quantization,
    and the exporter is itself again afterwards."""
    from executorch.examples.models.llama import export_llama_lib
    from executorch.examples.models.llama.export_llama_lib import DType

    from examples.generation.llama_export import LlamaExportOptions, program_filename, source_transforms_around

    own = export_llama_lib._get_source_transforms(DType.fp32, quantization_mode="8da4w", group_size=32)
    with source_transforms_around([fuse_projections]):
        ours = export_llama_lib._get_source_transforms(DType.fp32, quantization_mode="8da4w", group_size=32)
    assert ours[0] is fuse_projections and len(ours) == len(own) + 1
    assert export_llama_lib._get_source_transforms(DType.fp32)[0] is not fuse_projections
    options = LlamaExportOptions(quantize=True, group_size=128, fuse_projections=True)
    assert program_filename("stories110m", options) == "stories110m_xnnpack_8da4w_g128_fused.pte"
