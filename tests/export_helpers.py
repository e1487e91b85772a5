"""Helpers for the export tests: user model factories (``tests.export_helpers:factory``) and a runner.

Factories take no arguments and return ``(model, example_inputs)``, as ``--model_name
my_pkg.my_module:factory`` expects.
"""

from __future__ import annotations

from pathlib import Path

import torch


class SmallConvNet(torch.nn.Module):
    """A small classifier whose int8 quantization error is well defined (no random-mv2 noise)."""

    def __init__(self):
        super().__init__()
        self.features = torch.nn.Sequential(
            torch.nn.Conv2d(3, 16, 3, padding=1), torch.nn.ReLU(),
            torch.nn.Conv2d(16, 32, 3, stride=2, padding=1), torch.nn.ReLU(),
            torch.nn.Conv2d(32, 32, 3, stride=2, padding=1), torch.nn.ReLU(),
            torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(),
        )
        self.classifier = torch.nn.Linear(32, 10)

    def forward(self, x):
        return self.classifier(self.features(x))


def small_conv_net() -> torch.nn.Module:
    torch.manual_seed(0)
    return SmallConvNet().eval()


def factory():
    return small_conv_net(), (torch.randn(1, 3, 32, 32, generator=torch.Generator().manual_seed(0)),)


def not_a_module():
    return "not a model", (torch.zeros(1, 4),)


class GraphBreak(torch.nn.Module):
    """Exports (non-strict) fine as fp32, but the strict export of the quantization flow rejects it."""

    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(4, 4)

    def forward(self, x):
        torch._dynamo.graph_break()
        return self.linear(x)


def graph_break():
    torch.manual_seed(0)
    return GraphBreak().eval(), (torch.randn(1, 4),)


def run_pte(path: str | Path, inputs) -> list[torch.Tensor]:
    """Run a .pte file's ``forward`` through ExecuTorch's Python runtime (trusted programs only:
    the file must match its card)."""
    from executorch.runtime import Runtime

    from examples.integrity.verify import verify_program

    verify_program(path, "require")
    program = Runtime.get().load_program(Path(path))
    return list(program.load_method("forward").execute(list(inputs)))


def assert_close_to_eager(actual: torch.Tensor, expected: torch.Tensor, rel: float = 1e-3) -> None:
    """Max abs difference within ``rel`` of the output's scale (max |expected|)."""
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    scale = expected.abs().max().item() or 1.0
    err = (actual - expected).abs().max().item()
    assert err <= rel * scale + 1e-6, f"max abs error {err:.3g} > {rel:g} x output scale {scale:.3g}"
