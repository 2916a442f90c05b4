"""Group options are read again at every step: PyTorch's LR schedulers (OneCycleLR and CyclicLR
rewrite ``betas`` too), a tensor ``lr``, groups added later and ``named_parameters()`` input
train as they do under ``torch.optim.Adam``."""

from __future__ import annotations

from typing import Any, Callable

import pytest
import torch

import adamant.torch as at
from models import digits, mlp, twin
from test_torch_rule import within

STEPS = 60


def train_both(build: Callable[[Any, torch.nn.Module], tuple[torch.optim.Optimizer, Any]]) -> tuple[Any, Any]:
    """``STEPS`` steps of the same MLP under adamant and torch.optim, each built by ``build``
    (which returns the optimizer and a scheduler or None); returns the two optimizers."""
    x, y = digits()
    m1 = mlp()
    m2 = twin(m1)
    o1, s1 = build(at, m1)
    o2, s2 = build(torch.optim, m2)
    for _ in range(STEPS):
        for model, opt, sched in ((m1, o1, s1), (m2, o2, s2)):
            opt.zero_grad(set_to_none=True)
            torch.nn.functional.cross_entropy(model(x), y).backward()
            opt.step()
            if sched is not None:
                sched.step()
    for p1, p2 in zip(m1.parameters(), m2.parameters()):
        ok, why = within(p1, p2)
        assert ok, why
    return o1, o2


def adam(lib: Any, params: Any, **kwargs: Any) -> torch.optim.Optimizer:
    return lib.Adam(params, foreach=False, **kwargs) if lib is torch.optim else lib.Adam(params, **kwargs)


@pytest.mark.parametrize("cycle", ["onecycle", "cyclic"])
def test_schedulers_that_cycle_the_momentum_rewrite_betas_every_step(cycle: str) -> None:
    def build(lib: Any, model: torch.nn.Module) -> tuple[torch.optim.Optimizer, Any]:
        opt = adam(lib, model.parameters(), lr=1e-3)
        if cycle == "onecycle":
            sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=3e-3, total_steps=STEPS)
        else:
            sched = torch.optim.lr_scheduler.CyclicLR(opt, base_lr=1e-4, max_lr=3e-3, step_size_up=10,
                                                      cycle_momentum=True, base_momentum=0.8, max_momentum=0.9)
        return opt, sched

    ours, theirs = train_both(build)
    assert ours.param_groups[0]["betas"] == theirs.param_groups[0]["betas"]
    assert len(ours._engines) <= 8, "a configuration per step is kept forever"


def test_step_lr_and_a_tensor_lr() -> None:
    def build(lib: Any, model: torch.nn.Module) -> tuple[torch.optim.Optimizer, Any]:
        opt = adam(lib, model.parameters(), lr=torch.tensor(3e-3))
        return opt, torch.optim.lr_scheduler.StepLR(opt, step_size=20, gamma=0.5)

    train_both(build)


def test_named_parameters_and_a_group_added_later() -> None:
    def build(lib: Any, model: torch.nn.Module) -> tuple[torch.optim.Optimizer, Any]:
        named = list(model.named_parameters())
        opt = adam(lib, named[:2], lr=3e-3)
        opt.add_param_group({"params": named[2:], "lr": 1e-3, "weight_decay": 1e-2})
        return opt, None

    ours, theirs = train_both(build)
    assert ours.param_groups[0]["param_names"] == theirs.param_groups[0]["param_names"] == ["0.weight", "0.bias"]
    assert ours.state_dict()["param_groups"][1]["weight_decay"] == 1e-2
