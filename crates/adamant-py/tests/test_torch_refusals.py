"""Every tensor adamant cannot step in place, and every option it cannot honour, is refused
with an ``AdamantError`` that says why, and nothing changes: weights, states, step counts."""

from __future__ import annotations

import copy
from typing import Any, Callable

import pytest
import torch

import adamant
import adamant.torch as at


def snapshot(opt: torch.optim.Optimizer, params: list[torch.Tensor]) -> Any:
    return [p.detach().clone() for p in params], copy.deepcopy({id(p): s for p, s in opt.state.items()})


def assert_unchanged(before: Any, opt: torch.optim.Optimizer, params: list[torch.Tensor]) -> None:
    weights, states = before
    for p, w in zip(params, weights):
        assert torch.equal(p.detach(), w), "a weight changed"
    now = {id(p): s for p, s in opt.state.items()}
    assert now.keys() == states.keys(), "state appeared or vanished"
    for key, state in states.items():
        for name, value in state.items():
            assert torch.equal(now[key][name], value), f"state {name} changed"


def stepped_once(params: list[torch.nn.Parameter], **kwargs: Any) -> at.Adam:
    """An optimizer that has taken one good step (so that state exists)."""
    opt = at.Adam(params, lr=0.1, **kwargs)
    for p in params:
        p.grad = torch.ones_like(p)
    opt.step()
    return opt


def refused(opt: torch.optim.Optimizer, params: list[torch.Tensor], says: str, change: Callable[[], None]) -> None:
    before = snapshot(opt, params)
    change()
    with pytest.raises(adamant.AdamantError, match=says):
        opt.step()
    assert_unchanged(before, opt, params)


def test_a_gradient_of_other_strides_or_with_gaps_is_refused() -> None:
    # PyTorch itself refuses a .grad of another shape, dtype or device when it is assigned.
    a, b = torch.nn.Parameter(torch.ones(4, 3)), torch.nn.Parameter(torch.ones(5))
    opt = stepped_once([a, b])
    good = torch.ones(5)

    def grads(ga: torch.Tensor) -> Callable[[], None]:
        def set_them() -> None:
            a.grad, b.grad = ga, good  # b is fine: nothing of it may change either
        return set_them

    refused(opt, [a, b], r"strides \[1, 4\]", grads(torch.ones(3, 4).t()))
    refused(opt, [a, b], "memory has gaps", grads(torch.ones(4, 6)[:, ::2]))


def test_parameters_adamant_cannot_step_are_refused() -> None:
    for tensor, says in [
        (torch.ones(3, dtype=torch.complex64), "dtype torch.complex64"),
        (torch.ones(3, device="meta"), "on meta"),
        (torch.ones(3, 3).to_sparse(), "layout torch.sparse_coo"),
    ]:
        p = torch.nn.Parameter(tensor, requires_grad=tensor.is_floating_point() or tensor.is_complex())
        ok = torch.nn.Parameter(torch.ones(2))
        opt = stepped_once([ok])
        opt.add_param_group({"params": [p]})
        p.grad = tensor.detach().clone()
        ok.grad = torch.ones(2)
        before = snapshot(opt, [ok])
        with pytest.raises(adamant.AdamantError, match=says):
            opt.step()
        assert_unchanged(before, opt, [ok])


def test_a_parameter_whose_shape_changed_is_refused() -> None:
    p = torch.nn.Parameter(torch.ones(6))
    opt = stepped_once([p])
    p.data = torch.ones(2, 3)
    p.grad = torch.ones(2, 3)
    with pytest.raises(adamant.AdamantError, match=r"state \"exp_avg\" has shape \[6\].*the parameter has \[2, 3\]"):
        opt.step()


def test_tensors_of_one_step_that_share_memory_are_refused() -> None:
    storage = torch.zeros(10)
    a = torch.nn.Parameter(storage[:6])
    b = torch.nn.Parameter(storage[4:])
    a.data, b.data = storage[:6], storage[4:]  # two views whose memory overlaps
    opt = at.Adam([a, b], lr=0.1)
    a.grad, b.grad = torch.ones(6), torch.ones(6)
    with pytest.raises(adamant.AdamantError, match="parameters 0 and 1 share memory"):
        opt.step()
    assert torch.equal(storage, torch.zeros(10))
    assert int(opt.num_update) == 0


def test_a_gradient_that_is_its_own_weight_is_refused() -> None:
    p = torch.nn.Parameter(torch.ones(4))
    opt = stepped_once([p])
    p.grad = p.data  # the weight would be read while written
    before = snapshot(opt, [p])
    with pytest.raises(adamant.AdamantError, match="share memory"):
        opt.step()
    assert_unchanged(before, opt, [p])


def test_options_adamant_cannot_honour_are_refused() -> None:
    p = [torch.nn.Parameter(torch.ones(2))]
    for kwargs, says in [
        (dict(capturable=True), "capturable=True"),
        (dict(differentiable=True), "differentiable=True"),
        (dict(rule="jax"), "rule='jax'"),
        (dict(lr_scheduler=adamant.lr_scheduler.CosineScheduler(10)), "lr_scheduler is MXNet's"),
    ]:
        with pytest.raises(adamant.AdamantError, match=says):
            at.Adam(p, **kwargs)
    opt = at.Adam(p, rule="mxnet", amsgrad=True)
    p[0].grad = torch.ones(2)
    with pytest.raises(adamant.AdamantError, match="amsgrad=True is PyTorch's"):
        opt.step()


def test_sparse_adam_has_no_weight_decay_and_no_amsgrad() -> None:
    for kwargs, says in [(dict(weight_decay=0.01), "weight decay"), (dict(amsgrad=True), "amsgrad")]:
        emb = torch.nn.Embedding(10, 3, sparse=True)
        opt = at.Adam(emb.parameters(), lr=0.1, **kwargs)
        emb(torch.tensor([1, 2, 1])).sum().backward()
        before = emb.weight.detach().clone()
        with pytest.raises(adamant.AdamantError, match=f"does not support {says}.*SparseAdam"):
            opt.step()
        assert torch.equal(emb.weight.detach(), before) and int(opt.num_update) == 0


def test_half_precision_needs_master_weights_under_the_torch_rule() -> None:
    p = torch.nn.Parameter(torch.ones(3, dtype=torch.bfloat16))
    opt = at.Adam([p], lr=0.1)
    p.grad = torch.ones(3, dtype=torch.bfloat16)
    with pytest.raises(adamant.AdamantError, match="need multi_precision under rule torch"):
        opt.step()
    assert torch.equal(p.detach(), torch.ones(3, dtype=torch.bfloat16))
