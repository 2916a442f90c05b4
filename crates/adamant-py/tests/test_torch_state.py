"""``state_dict()`` / ``load_state_dict()``: through ``torch.save`` and ``torch.load`` with their
defaults, a resumed run gives the same bits as one that never stopped; master weights and
moments of half-precision parameters stay float32; the step count stays exact past 2**24; state
moves between ``torch.optim.Adam`` and ``adamant.torch.Adam`` in both directions."""

from __future__ import annotations

import io
from typing import Any, Callable

import pytest
import torch

import adamant
import adamant.torch as at
from models import digits, mlp, run, twin

X, Y = digits()


def saved(opt: torch.optim.Optimizer) -> dict[str, Any]:
    buffer = io.BytesIO()
    torch.save(opt.state_dict(), buffer)
    buffer.seek(0)
    return torch.load(buffer)  # weights_only=True, PyTorch's default


def resume_equals_uninterrupted(make: Callable[[Any], torch.optim.Optimizer], dtype: torch.dtype) -> None:
    model = mlp(dtype)
    opt = make(model.parameters())
    run(model, opt, X.to(dtype), Y, 7)
    state, weights = saved(opt), twin(model)
    run(model, opt, X.to(dtype), Y, 5)

    resumed = weights
    opt2 = make(resumed.parameters())
    opt2.load_state_dict(state)
    run(resumed, opt2, X.to(dtype), Y, 5)
    for (name, a), b in zip(model.named_parameters(), resumed.parameters()):
        assert torch.equal(a, b), f"{name} differs after the resume"
        for key, value in opt.state[a].items():
            assert value.dtype == opt2.state[b][key].dtype, f"{name} {key} dtype"
            assert torch.equal(value, opt2.state[b][key]), f"{name} {key} differs"


@pytest.mark.parametrize("rule", ["torch", "mxnet"])
def test_a_float32_run_resumes_bit_for_bit(rule: str) -> None:
    resume_equals_uninterrupted(lambda p: at.AdamW(p, lr=3e-3, rule=rule), torch.float32)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_a_half_precision_run_with_master_weights_resumes_bit_for_bit(dtype: torch.dtype) -> None:
    def make(p: Any) -> torch.optim.Optimizer:
        return at.Adam(p, lr=3e-3, multi_precision=True)

    resume_equals_uninterrupted(make, dtype)
    model = mlp(dtype)
    opt = make(model.parameters())
    run(model, opt, X.to(dtype), Y, 2)
    state = saved(opt)["state"][0]
    assert state["weight32"].dtype == state["exp_avg"].dtype == torch.float32
    assert state["step"].dtype == torch.int64


def test_the_step_count_stays_exact_past_2_to_the_24() -> None:
    model = mlp()
    opt = at.Adam(model.parameters(), lr=1e-3)
    run(model, opt, X, Y, 1)
    for state in opt.state.values():
        state["step"].fill_(2**24 + 1)  # as a float32 count it would read 2**24
    state, resumed = saved(opt), twin(model)
    run(model, opt, X, Y, 1)
    opt2 = at.Adam(resumed.parameters(), lr=1e-3)
    opt2.load_state_dict(state)
    run(resumed, opt2, X, Y, 1)
    assert all(int(s["step"]) == 2**24 + 2 for s in opt2.state.values())
    assert all(torch.equal(a, b) for a, b in zip(model.parameters(), resumed.parameters()))


def test_state_moves_from_torch_optim_adam_and_back() -> None:
    base = mlp()
    # torch.optim.Adam for 5 steps, then each optimizer continues from its state for 5 more.
    theirs = twin(base)
    t_opt = torch.optim.Adam(theirs.parameters(), lr=3e-3, foreach=False)
    run(theirs, t_opt, X, Y, 5)
    ours = twin(theirs)
    o_opt = at.Adam(ours.parameters(), lr=3e-3)
    o_opt.load_state_dict(saved(t_opt))
    assert all(s["step"].dtype == torch.int64 and int(s["step"]) == 5 for s in o_opt.state.values())
    run(theirs, t_opt, X, Y, 5)
    run(ours, o_opt, X, Y, 5)
    for a, b in zip(ours.parameters(), theirs.parameters()):
        assert torch.allclose(a, b, rtol=1e-5, atol=1e-6)

    # And back: adamant's state into torch.optim.Adam.
    back = twin(ours)
    b_opt = torch.optim.Adam(back.parameters(), lr=3e-3, foreach=False)
    b_opt.load_state_dict(saved(o_opt))
    run(back, b_opt, X, Y, 5)
    run(ours, o_opt, X, Y, 5)
    for a, b in zip(ours.parameters(), back.parameters()):
        assert torch.allclose(a, b, rtol=1e-5, atol=1e-6)


def test_an_mxnet_scheduler_resumes_where_it_was() -> None:
    def make(p: Any) -> torch.optim.Optimizer:
        sched = adamant.lr_scheduler.FactorScheduler(step=2, factor=0.5, base_lr=0.01)
        return at.Adam(p, rule="mxnet", lr_scheduler=sched)

    resume_equals_uninterrupted(make, torch.float32)


@pytest.mark.parametrize("kwargs", [
    dict(lr=1e-3, weight_decay=0.01),
    dict(rule="mxnet", weight_decay=0.01, lr_scheduler=adamant.lr_scheduler.FactorScheduler(step=10, base_lr=0.01)),
], ids=["torch", "mxnet-scheduler"])
def test_distributed_checkpointing_initialises_state_without_moving_a_weight(kwargs: dict[str, Any]) -> None:
    from torch.distributed.checkpoint.state_dict import get_optimizer_state_dict, set_optimizer_state_dict

    model = mlp()
    opt = at.Adam(model.parameters(), **kwargs)
    before = twin(model)
    state = get_optimizer_state_dict(model, opt)  # a step at lr 0 on zero gradients, state being empty
    for (name, a), b in zip(model.named_parameters(), before.parameters()):
        assert torch.equal(a, b), f"{name} moved"
    assert set(state["state"]) == {name for name, _ in model.named_parameters()}
    set_optimizer_state_dict(model, opt, state)
    run(model, opt, X, Y, 2)
    assert all(int(s["step"]) == 3 for s in opt.state.values())


def test_a_torch_state_becomes_this_optimizers_layout_without_losing_its_count() -> None:
    # torch.optim.Adam on bfloat16 weights (no master copy), then adamant with master weights;
    # and its float32 state under MXNet's rule, whose moments are named mean and var.
    half = mlp(torch.bfloat16)
    t_opt = torch.optim.Adam(half.parameters(), lr=1e-3, foreach=False)
    run(half, t_opt, X.bfloat16(), Y, 3)
    o_opt = at.Adam(half.parameters(), lr=1e-3, multi_precision=True)
    o_opt.load_state_dict(saved(t_opt))
    run(half, o_opt, X.bfloat16(), Y, 1)
    for p in half.parameters():
        s = o_opt.state[p]
        assert int(s["step"]) == 4 and s["exp_avg"].dtype == torch.float32 and s["exp_avg"].abs().sum() > 0
        assert s["weight32"].dtype == torch.float32

    model = mlp()
    t_opt = torch.optim.Adam(model.parameters(), lr=1e-3, foreach=False)
    run(model, t_opt, X, Y, 3)
    m_opt = at.Adam(model.parameters(), lr=1e-3, rule="mxnet")
    m_opt.load_state_dict(saved(t_opt))
    for p in model.parameters():
        assert torch.equal(m_opt.state[p]["mean"], t_opt.state[p]["exp_avg"])
        assert int(m_opt.state[p]["step"]) == 3


def test_a_step_count_near_the_end_of_int64_loads_exactly() -> None:
    model = mlp()
    opt = at.Adam(model.parameters(), lr=1e-3)
    run(model, opt, X, Y, 1)
    for state in opt.state.values():
        state["step"].fill_(2**60 + 2)  # not a float64 either
    opt2 = at.Adam(twin(model).parameters(), lr=1e-3)
    opt2.load_state_dict(saved(opt))
    assert all(int(s["step"]) == 2**60 + 2 for s in opt2.state.values())


def hostile(change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    model = mlp()
    opt = at.Adam(model.parameters(), lr=1e-3)
    run(model, opt, X, Y, 1)
    state = saved(opt)
    change(state)
    return state


@pytest.mark.parametrize("change,says", [
    (lambda s: s["state"][0].update(step=torch.tensor(float("nan"))), "not a whole number"),
    (lambda s: s["state"][0].update(step="abc"), "not a count"),
    (lambda s: s["state"][0].update(step=torch.tensor(-1)), "from 0 to"),
    (lambda s: s["state"][0].update(exp_avg=torch.zeros(5)), "5 elements"),
    (lambda s: s["state"][0].update(exp_avg=[0.0] * 2048), "list"),
    (lambda s: s["state"].update({0: 3.0}), "not a dict"),
    (lambda s: s["param_groups"][0].update(lr=float("nan")), "lr=nan"),
    (lambda s: s.update(adamant={"num_update": 2**70}), "num_update"),
    (lambda s: s["param_groups"].append(dict(s["param_groups"][0])), "groups differ"),
    (lambda s: s["state"].update({0: {"step": torch.tensor(3.0)}}), "counts 3 steps but has no"),
    (lambda s: s["state"][0].pop("step"), "no 'step'"),
    (lambda s: s.update(adamant=[1, 2]), "not a dict"),
    (lambda s: s["state"][0].update(step=torch.empty((), device="meta")), "cannot be read"),
    (lambda s: s["param_groups"][0].update(capturable=True), "capturable"),
], ids=["nan-step", "text-step", "negative-step", "short-moment", "list-moment", "state-not-dict", "nan-lr",
        "huge-num-update", "extra-group", "step-without-moments", "moments-without-step", "adamant-not-dict",
        "meta-step", "capturable"])
def test_a_hostile_state_dict_is_refused_and_nothing_changes(change: Callable[[dict[str, Any]], None],
                                                               says: str) -> None:
    model = mlp()
    opt = at.Adam(model.parameters(), lr=5e-3)
    run(model, opt, X, Y, 2)
    before = saved(opt)
    with pytest.raises(adamant.AdamantError, match=says):
        opt.load_state_dict(hostile(change))
    after = saved(opt)
    assert after["param_groups"] == before["param_groups"]
    for key, state in before["state"].items():
        assert all(torch.equal(state[k], after["state"][key][k]) for k in state)
    run(model, opt, X, Y, 1)


def test_a_hostile_mxnet_scheduler_state_is_refused() -> None:
    def make(p: Any) -> torch.optim.Optimizer:
        return at.Adam(p, rule="mxnet", lr_scheduler=adamant.lr_scheduler.FactorScheduler(step=2, base_lr=0.01))

    model = mlp()
    opt = make(model.parameters())
    run(model, opt, X, Y, 1)
    state = saved(opt)
    state["adamant"]["lr_scheduler"]["state"] = [0.01, 2]
    with pytest.raises(adamant.AdamantError, match="scheduler state"):
        make(model.parameters()).load_state_dict(state)


@pytest.mark.parametrize("make", [lambda p: at.Adamax(p, lr=2e-3), lambda p: at.Nadam(p, lr=2e-3, formula="1.x")],
                         ids=["adamax", "nadam"])
def test_adamax_and_nadam_resume_bit_for_bit(make: Callable[[Any], torch.optim.Optimizer]) -> None:
    resume_equals_uninterrupted(make, torch.float32)


def test_nadams_shared_schedule_is_saved_and_refused_where_it_cannot_be_kept() -> None:
    model = mlp()
    opt = at.Nadam(model.parameters(), lr=2e-3)
    run(model, opt, X, Y, 2)
    m_schedule = saved(opt)["adamant"]["scalars"]["m_schedule"]
    assert 0 < m_schedule < 1  # advanced once per parameter per step
    params = list(model.parameters())
    with pytest.raises(adamant.AdamantError, match="groups may differ in lr and weight_decay only"):
        two = at.Nadam([{"params": params[:2]}, {"params": params[2:], "betas": (0.8, 0.99)}])
        run(model, two, X, Y, 1)
    with pytest.raises(adamant.AdamantError, match="only rule='mxnet'"):
        at.Nadam(params, rule="torch")
