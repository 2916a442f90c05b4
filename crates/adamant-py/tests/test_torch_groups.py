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


def test_decoupled_weight_decay_is_read_per_group() -> None:
    def build(lib: Any, model: torch.nn.Module) -> tuple[torch.optim.Optimizer, Any]:
        params = list(model.parameters())
        groups = [{"params": params[:2]}, {"params": params[2:], "decoupled_weight_decay": True}]
        return adam(lib, groups, lr=3e-3, weight_decay=0.1), None

    train_both(build)


def test_a_group_lr_scales_the_mxnet_schedule() -> None:
    import adamant

    a, b = torch.nn.Parameter(torch.zeros(2)), torch.nn.Parameter(torch.zeros(2))
    sched = adamant.lr_scheduler.FactorScheduler(step=100, base_lr=0.1)
    opt = at.Adam([{"params": [a]}, {"params": [b], "lr": 0.05}], rule="mxnet", lr_scheduler=sched)
    a.grad, b.grad = torch.ones(2), torch.ones(2)
    opt.step()
    assert torch.allclose(b.detach(), a.detach() / 2), (a, b)


def test_an_optimizer_survives_deepcopy_and_pickle() -> None:
    import copy
    import io
    import pickle

    import adamant

    model = mlp()
    sched = adamant.lr_scheduler.FactorScheduler(step=2, factor=0.5, base_lr=0.01)
    opt = at.Adam(model.parameters(), rule="mxnet", lr_scheduler=sched)
    x, y = digits()
    for clone in (lambda o: copy.deepcopy(o), lambda o: pickle.loads(pickle.dumps(o))):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
        other = clone(opt)
        assert other._lr_scheduler.state() == opt._lr_scheduler.state()
        other.step()  # its own copies of the parameters and state
    buffer = io.BytesIO()
    torch.save(opt.state_dict(), buffer)
