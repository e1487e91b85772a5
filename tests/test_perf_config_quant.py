"""Performance configuration (issues 7/8): CPU capability detection and the fp32-depthwise recipe.

Behaviour and configuration only: no timings here (see docs/PERFORMANCE.md for those).
"""

from __future__ import annotations

import pytest
import torch

from examples.common.metrics import sqnr_db
from examples.quantization.cpu_caps import detect, verdict
from examples.quantization.recipes import get_recipe

# (model name, CPU flags as /proc/cpuinfo and py-cpuinfo write them)
ZEN3 = ("AMD EPYC 7B13 64-Core Processor", "fpu sse sse2 ssse3 sse4_1 sse4_2 avx f16c fma avx2 bmi2 sha_ni".split())
ICELAKE = ("Intel Xeon", "sse avx avx2 fma avx512f avx512bw avx512vl avx512_vnni".split())
ALDERLAKE = ("Intel Core", "sse avx avx2 fma avx_vnni".split())
SKYLAKE_X = ("Intel Xeon", "sse avx avx2 fma avx512f avx512bw".split())
SPR = ("Intel Xeon", "avx2 avx512f avx512bw avx512_vnni amx_tile amx_int8 amx_bf16".split())
GRAVITON2 = ("unknown", "fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics asimddp".split())
CORTEX_A53 = ("unknown", "fp asimd evtstrm crc32".split())


def test_avx2_without_vnni_reports_facts_only():
    caps = verdict(*ZEN3)
    assert caps.int8_level == "avx2" and not caps.int8_dot_product
    assert not hasattr(caps, "recommended_precision")  # whether int8 pays is measured, not assumed
    assert caps.model.startswith("AMD EPYC 7B13")
    assert "avx2" in caps.flags and "avx512_vnni" not in caps.flags


def test_int8_dot_product_cpus():
    for text, level in ((ICELAKE, "avx512_vnni"), (ALDERLAKE, "avx_vnni"), (SPR, "amx_int8"),
                        (GRAVITON2, "arm_dotprod")):
        caps = verdict(*text)
        assert (caps.int8_level, caps.int8_dot_product) == (level, True), text


def test_wide_simd_without_dot_product():
    for text in (SKYLAKE_X, CORTEX_A53):
        assert not verdict(*text).int8_dot_product


def test_unreadable_or_empty_cpuinfo_is_safe():
    assert detect({}).int8_level == "unknown"
    assert verdict("unknown", []).int8_level == "unknown"
    caps = detect()  # this machine: whatever it is, a complete answer
    assert caps.describe().startswith("CPU: ") and "measured" in caps.describe()
    assert set(caps.as_dict()) >= {"flags", "int8_level", "int8_dot_product"}


class DepthwiseNet(torch.nn.Module):
    """conv 3x3 -> depthwise 3x3 -> pointwise 1x1 (a MobileNet block in miniature)."""

    def __init__(self):
        super().__init__()
        self.stem = torch.nn.Conv2d(3, 16, 3, padding=1)
        self.dw = torch.nn.Conv2d(16, 16, 3, padding=1, groups=16)
        self.pw = torch.nn.Conv2d(16, 8, 1)

    def forward(self, x):
        x = torch.relu(self.stem(x))
        x = torch.relu(self.dw(x))
        return self.pw(x)


def _model_and_inputs():
    torch.manual_seed(0)
    model = DepthwiseNet().eval()
    inputs = (torch.randn(1, 3, 16, 16, generator=torch.Generator().manual_seed(0)),)
    calibration = [(torch.randn(1, 3, 16, 16, generator=torch.Generator().manual_seed(s)),) for s in range(4)]
    return model, inputs, calibration


def _conv_weight_is_quantized(graph_module, groups: int) -> dict:
    """For each conv of the converted graph: does its weight come through a dequantize node?"""
    found = {}
    for node in graph_module.graph.nodes:
        if node.op == "call_function" and "conv2d" in str(node.target):
            node_groups = node.args[6] if len(node.args) > 6 else 1
            weight = node.args[1]
            found.setdefault(node_groups == groups, []).append("dequantize" in str(getattr(weight, "target", "")))
    return found


@pytest.mark.slow
def test_fp32_depthwise_recipe_keeps_depthwise_float():
    from examples.quantization.quantize import quantize

    model, inputs, calibration = _model_and_inputs()
    baseline, _ = quantize(model, inputs, get_recipe("static_per_channel"), calibration)
    mixed, _ = quantize(model, inputs, get_recipe("static_per_channel_fp32_dw"), calibration)
    base = _conv_weight_is_quantized(baseline, 16)
    mix = _conv_weight_is_quantized(mixed, 16)
    assert base[True] == [True] and all(base[False])  # every conv int8
    assert mix[True] == [False]  # depthwise stays fp32
    assert mix[False] == [True, True]  # stem and pointwise stay int8


@pytest.mark.slow
def test_fp32_depthwise_program_matches_eager():
    from executorch.runtime import Runtime

    from examples.export.lowering import export_program

    model, inputs, calibration = _model_and_inputs()
    with torch.no_grad():
        expected = model(*inputs)
    result = export_program(model, inputs, recipe=get_recipe("static_per_channel_fp32_dw"), calibration=calibration)
    assert result.delegated and result.quantized
    info = result.delegation_info()
    assert info.num_delegated_subgraphs == 1  # int8 and fp32 parts in one XNNPACK subgraph
    method = Runtime.get().load_program(result.buffer).load_method("forward")
    actual = method.execute(list(inputs))[0]
    sqnr = sqnr_db(expected, actual)
    assert sqnr > 25, f"SQNR {sqnr:.1f} dB"
