"""Tiny models for tests and smoke runs, where the model itself does not matter."""

from __future__ import annotations

import torch

from examples.models.model_spec import random_inputs


class Add(torch.nn.Module):
    def forward(self, x, y):
        return x + y


class Mul(torch.nn.Module):
    def forward(self, x, y):
        return x * y


class AddMul(torch.nn.Module):
    def forward(self, a, x, b):
        return torch.add(torch.mm(a, x), b)


class Linear(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(32, 16)

    def forward(self, x):
        return self.linear(x)


class TinyConv(torch.nn.Module):
    """conv -> ReLU -> depthwise conv -> pool -> linear: every op kind of a small CNN, in
    microseconds (the benchmark's end-to-end test runs every backend on it)."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 8, 3, padding=1)
        self.depthwise = torch.nn.Conv2d(8, 8, 3, padding=1, groups=8)
        self.head = torch.nn.Linear(8, 10)

    def forward(self, x):
        x = torch.relu(self.depthwise(torch.relu(self.conv(x))))
        return self.head(torch.nn.functional.adaptive_avg_pool2d(x, 1).flatten(1))


class Softmax(torch.nn.Module):
    def forward(self, x):
        return torch.nn.functional.softmax(x, dim=-1)


def _toy(cls, *shapes):
    def factory(weights):
        torch.manual_seed(0)
        return cls().eval(), random_inputs(*shapes)

    return factory


add = _toy(Add, (1, 8), (1, 8))
mul = _toy(Mul, (3, 2), (3, 2))
add_mul = _toy(AddMul, (2, 2), (2, 2), (2, 2))
linear = _toy(Linear, (4, 32))
softmax = _toy(Softmax, (1, 10))
tiny_conv = _toy(TinyConv, (1, 3, 16, 16))
