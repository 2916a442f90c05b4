"""Small real models and data for the tests: an MLP on scikit-learn's digits, a convolution in
channels_last, and an embedding bag with sparse gradients."""

from __future__ import annotations

import copy
from typing import Callable

import torch
from sklearn.datasets import load_digits


def digits(dtype: torch.dtype = torch.float32) -> tuple[torch.Tensor, torch.Tensor]:
    x, y = load_digits(return_X_y=True)
    return torch.tensor(x / 16.0, dtype=dtype), torch.tensor(y, dtype=torch.int64)


def mlp(dtype: torch.dtype = torch.float32, seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(64, 32), torch.nn.Tanh(), torch.nn.Linear(32, 10)).to(dtype)


def conv(seed: int = 0) -> torch.nn.Module:
    """A convolution whose weight is channels_last: dense, but not contiguous."""
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 1), torch.nn.Tanh(), torch.nn.Conv2d(4, 4, 3),
                                torch.nn.Flatten(), torch.nn.Linear(4 * 6 * 6, 10))
    model[2].weight.data = model[2].weight.data.contiguous(memory_format=torch.channels_last)
    return model


def run(model: torch.nn.Module, opt: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor, steps: int,
        shape: Callable[[torch.Tensor], torch.Tensor] = lambda t: t) -> None:
    """``steps`` full-batch steps of cross-entropy, gradients fresh each step."""
    for _ in range(steps):
        opt.zero_grad(set_to_none=True)
        torch.nn.functional.cross_entropy(model(shape(x)).float(), y).backward()
        opt.step()


def twin(model: torch.nn.Module) -> torch.nn.Module:
    return copy.deepcopy(model)
