"""The 8-bit output projection of an 8da4w program (examples/generation/output_head.py): two source
transforms around the LLM exporter's own put back the classifier with int8 weights per channel
after the exporter quantized every linear to 4 bits; (llm tier) the exported program reads more
bytes and its logits are closer to eager fp32's than 8da4w's."""

from __future__ import annotations


import numpy as np
import pytest
import torch
from torch import nn

from examples.generation.output_head import OutputHeadIn8Bits


class _Toy(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Linear(64, 64, bias=False)
        self.output = nn.Linear(64, 512, bias=False)

    def forward(self, x):
        return self.output(self.body(x))


def _exporters_8da4w(model: nn.Module) -> nn.Module:
    """What the LLM exporter's 8da4w transform does to every linear (groups of 32)."""
    from torchao.quantization import Int8DynamicActivationIntxWeightConfig, quantize_
    from torchao.quantization.granularity import PerGroup

    quantize_(model, Int8DynamicActivationIntxWeightConfig(weight_dtype=torch.int4, weight_granularity=PerGroup(32)))
    return model


def _sqnr_db(reference: torch.Tensor, other: torch.Tensor) -> float:
    return float(10 * torch.log10(reference.pow(2).mean() / (reference - other).pow(2).mean()))


def test_the_classifier_comes_back_in_8_bits_after_the_exporters_4_bit_transform():
    torch.manual_seed(0)
    reference_model = _Toy().eval()
    x = torch.randn(3, 64)
    reference = reference_model(x).detach()
    four = _exporters_8da4w(_copy(reference_model))
    head = OutputHeadIn8Bits()
    eight = head.last(_exporters_8da4w(head.first(_copy(reference_model))))
    assert eight.output is not four.output and eight.output.weight.qdata.dtype == torch.int8
    assert int(eight.output.weight.qdata.max()) > 7 or int(eight.output.weight.qdata.min()) < -8  # not 4-bit values
    assert eight.output.weight.block_size == (1, 64)  # one scale per output channel
    assert type(eight.body.weight) is type(four.body.weight)  # the other linears stay the exporter's 4-bit
    with torch.no_grad():
        assert _sqnr_db(reference, eight(x)) > _sqnr_db(reference, four(x)) + 3


def _copy(model: nn.Module) -> nn.Module:
    clone = _Toy()
    clone.load_state_dict(model.state_dict())
    return clone.eval()


def test_a_bf16_checkpoint_gets_a_classifier_in_the_models_final_dtype():
    """The exporter casts a bf16 checkpoint to fp32 in its last transform, after ``first`` copied
    the weight: the 8-bit head must follow the model's dtype, or an fp32 forward fails."""
    torch.manual_seed(0)
    model = _Toy().to(torch.bfloat16).eval()
    head = OutputHeadIn8Bits()
    model = head.last(head.first(model).to(torch.float32))
    with torch.no_grad():
        assert model(torch.randn(2, 64)).dtype == torch.float32


def test_the_exporter_runs_the_last_transforms_after_its_own():
    from executorch.examples.models.llama import export_llama_lib
    from executorch.examples.models.llama.export_llama_lib import DType

    from examples.generation.llama_export import source_transforms_around

    head = OutputHeadIn8Bits()
    own = export_llama_lib._get_source_transforms(DType.fp32, quantization_mode="8da4w", group_size=32)
    with source_transforms_around([head.first], [head.last]):
        ours = export_llama_lib._get_source_transforms(DType.fp32, quantization_mode="8da4w", group_size=32)
    assert ours[0] == head.first and ours[-1] == head.last and len(ours) == len(own) + 2


def test_the_transforms_refuse_a_model_without_a_plain_classifier():
    with pytest.raises(ValueError, match="no bias-free linear 'output'"):
        OutputHeadIn8Bits().first(nn.Sequential(nn.Linear(4, 4)))
    with pytest.raises(ValueError, match="first transform did not run"):
        OutputHeadIn8Bits().last(_Toy())


def test_options_and_file_names():
    from examples.generation.llama_export import LlamaExportError, LlamaExportOptions, check_options, program_filename
    from examples.models.llama_zoo import LLM_MODELS

    options = LlamaExportOptions(quantize=True, output_bits=8)
    assert program_filename("stories110m", options) == "stories110m_xnnpack_8da4w_out8.pte"
    for bad in (LlamaExportOptions(output_bits=8), LlamaExportOptions(quantize=True, output_bits=8, fp32_prefill=True),
                LlamaExportOptions(quantize=True, output_bits=6)):
        with pytest.raises(LlamaExportError):
            check_options(LLM_MODELS["stories15m"], bad)


@pytest.mark.llm
@pytest.mark.slow
def test_an_8_bit_classifier_program_reads_more_and_is_closer_to_eager(tmp_path):
    """The tiny model exported with and without the 8-bit classifier: the file grows by about the
    classifier's extra 4 bits a weight, and over teacher-forced positions its logits are closer
    to eager fp32's; the native runner runs it."""
    from examples.generation.llama_export import LlamaExportOptions, program_filename
    from examples.generation.model_export import export_language_model
    from examples.runner.text_generation_client import generate_tokens
    from examples.tune.generation_tuner import GenerationTuneSettings, check_prompt, eager_logits, program_logits
    from tests.helpers_generation import PROMPT, TINY_MODEL

    programs = {}
    for bits in (4, 8):
        options = LlamaExportOptions(quantize=True, max_seq_len=64, output_bits=bits)
        programs[bits] = export_language_model(TINY_MODEL, options, "random", tmp_path / program_filename("tiny", options),
                                               seed=0)
    shape = TINY_MODEL.shape
    grown = programs[8].stat().st_size - programs[4].stat().st_size
    assert 0.4 * shape.vocab_size * shape.dim < grown < 0.8 * shape.vocab_size * shape.dim, grown
    settings = GenerationTuneSettings(threads=[1], output_dir=tmp_path, cache_dir=tmp_path, weights="random", max_seq_len=64,
                                      check_tokens=8)
    prompt = check_prompt(TINY_MODEL, 8)
    continuation, reference = eager_logits(TINY_MODEL, settings, prompt)
    sqnr = {bits: 10 * np.log10((reference ** 2).mean() / ((reference - program_logits(p, prompt, continuation)) ** 2).mean())
            for bits, p in programs.items()}
    assert sqnr[8] > sqnr[4] + 1, sqnr
    report = generate_tokens(programs[8], PROMPT, runner="native", max_new_tokens=4)
    assert len(report["tokens"]) == 4
