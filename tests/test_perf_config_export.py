"""Export configuration knobs for speed (issues 7/8): partitioner options, grad-mode export.

Behaviour only (graph structure, numerics vs eager); the timings are in docs/PERFORMANCE.md.
"""

from __future__ import annotations

import pytest
import torch

from examples.export.lowering import export_program


class HardSE(torch.nn.Module):
    """conv -> hardswish -> squeeze-excitation with hardsigmoid (a MobileNet V3 block in miniature)."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 8, 3, padding=1)
        self.act = torch.nn.Hardswish()
        self.fc1 = torch.nn.Conv2d(8, 4, 1)
        self.fc2 = torch.nn.Conv2d(4, 8, 1)
        self.gate = torch.nn.Hardsigmoid()

    def forward(self, x):
        x = self.act(self.conv(x))
        s = torch.nn.functional.adaptive_avg_pool2d(x, 1)
        s = self.gate(self.fc2(torch.relu(self.fc1(s))))
        return x * s


def _non_delegated_ops(result) -> list[str]:
    return [
        str(n.target)
        for n in result.graph_module.graph.nodes
        if n.op == "call_function" and "executorch_call_delegate" not in str(n.target) and "getitem" not in str(n.target)
    ]


@pytest.fixture(scope="module")
def model_and_inputs():
    torch.manual_seed(0)
    return HardSE().eval(), (torch.randn(1, 3, 16, 16, generator=torch.Generator().manual_seed(0)),)


def _run(result, inputs):
    from executorch.runtime import Runtime

    return Runtime.get().load_program(result.buffer).load_method("forward").execute(list(inputs))[0]


def test_default_export_matches_eager_in_one_subgraph(model_and_inputs):
    model, inputs = model_and_inputs
    result = export_program(model, inputs)
    assert result.delegation_info().num_delegated_subgraphs == 1
    with torch.no_grad():
        expected = model(*inputs)
    torch.testing.assert_close(_run(result, inputs), expected, rtol=1e-4, atol=1e-5)


def test_grad_mode_export_option_matches_eager(model_and_inputs):
    model, inputs = model_and_inputs
    result = export_program(model, inputs, export_no_grad=False)
    with torch.no_grad():
        expected = model(*inputs)
    torch.testing.assert_close(_run(result, inputs), expected, rtol=1e-4, atol=1e-5)


def test_partitioner_options_are_passed_through(model_and_inputs):
    model, inputs = model_and_inputs
    result = export_program(model, inputs, partitioner_options={"per_op_mode": True})
    assert result.delegation_info().num_delegated_subgraphs > 1
