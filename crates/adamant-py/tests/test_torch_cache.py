"""A step keeps what it checked of the parameters and their state for the next step; whatever a
user or a library replaces between steps (a parameter's data, a state tensor, the whole state,
the parameter list) is seen at the next step, and what is no longer used is released."""

from __future__ import annotations

import gc
import weakref

import torch

import adamant.torch as at


def twin_steps(change) -> tuple[at.Adam, torch.optim.Adam, list[torch.nn.Parameter], list[torch.nn.Parameter]]:
    """Three steps of adamant and of torch.optim.Adam on the same parameters, with ``change``
    applied to both between the first and the second."""
    torch.manual_seed(0)
    ours = [torch.nn.Parameter(torch.randn(5, 3)), torch.nn.Parameter(torch.randn(7))]
    theirs = [torch.nn.Parameter(p.detach().clone()) for p in ours]
    a, b = at.Adam(ours, lr=0.01), torch.optim.Adam(theirs, lr=0.01, foreach=False)
    for step in range(3):
        if step == 1:
            change(a, ours)
            change(b, theirs)
        for opt, params in ((a, ours), (b, theirs)):
            for i, p in enumerate(params):
                p.grad = torch.full_like(p, 0.1 * (i + 1) * (step + 1))
            opt.step()
    return a, b, ours, theirs


def assert_same(ours: list[torch.Tensor], theirs: list[torch.Tensor]) -> None:
    for p, q in zip(ours, theirs):
        torch.testing.assert_close(p.detach(), q.detach(), rtol=1e-6, atol=1e-7)


def test_a_state_tensor_replaced_in_its_dict_is_the_one_stepped() -> None:
    def replace(opt: torch.optim.Optimizer, params: list[torch.nn.Parameter]) -> None:
        state = opt.state[params[0]]
        state["exp_avg"] = state["exp_avg"].clone() * 0.5

    old = {}

    def replace_and_keep(opt: torch.optim.Optimizer, params: list[torch.nn.Parameter]) -> None:
        old[type(opt)] = opt.state[params[0]]["exp_avg"]
        replace(opt, params)

    a, b, ours, theirs = twin_steps(replace_and_keep)
    assert_same(ours, theirs)
    torch.testing.assert_close(a.state[ours[0]]["exp_avg"], b.state[theirs[0]]["exp_avg"])
    assert not torch.equal(old[at.Adam], a.state[ours[0]]["exp_avg"]), "the replaced tensor was stepped"


def test_a_parameter_given_new_data_is_stepped_in_its_new_memory() -> None:
    def new_data(opt: torch.optim.Optimizer, params: list[torch.nn.Parameter]) -> None:
        params[1].data = params[1].data * 2.0

    _, _, ours, theirs = twin_steps(new_data)
    assert_same(ours, theirs)


def test_a_whole_state_replaced_as_zero_does_is_checked_again() -> None:
    def fresh_state(opt: torch.optim.Optimizer, params: list[torch.nn.Parameter]) -> None:
        opt.state[params[0]] = {k: v.clone() for k, v in opt.state[params[0]].items()}

    a, b, ours, theirs = twin_steps(fresh_state)
    assert_same(ours, theirs)
    assert int(a.state[ours[0]]["step"]) == 3


def test_parameters_no_longer_stepped_are_released() -> None:
    keep = torch.nn.Parameter(torch.ones(3))
    gone = [torch.nn.Parameter(torch.ones(2)) for _ in range(200)]
    opt = at.Adam([keep, *gone], lr=0.1)
    for p in [keep, *gone]:
        p.grad = torch.ones_like(p)
    opt.step()
    refs = [weakref.ref(p) for p in gone]
    opt.param_groups[0]["params"] = [keep]
    for p in gone:
        opt.state.pop(p)
    del gone, p
    opt.step()
    gc.collect()
    assert all(r() is None for r in refs), "the optimizer still holds parameters it no longer steps"
    assert int(opt.state[keep]["step"]) == 2
