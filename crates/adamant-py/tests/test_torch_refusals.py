"""Every tensor adamant cannot step in place, and every option it cannot honour, is refused
with an ``AdamantError`` that says why, and nothing changes: weights, states, step counts."""

from __future__ import annotations

import copy
import re
import threading
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
        (dict(rule="mxnet", amsgrad=True), "amsgrad=True is PyTorch's"),
        # MXNet's options under PyTorch's rule are refused, not ignored.
        (dict(clip_gradient=1.0), "clip_gradient"),
        (dict(wd_order="before_clip"), "wd_order"),
        (dict(half_math="per_op"), "half_math"),
        # PyTorch's own checks, and adamant's options.
        (dict(lr=-1.0), "lr=-1.0"),
        (dict(lr=float("nan")), "lr=nan"),
        (dict(lr="0.1"), "lr='0.1'"),
        (dict(lr=torch.tensor([0.1, 0.2])), "lr is a tensor of 2 elements"),
        (dict(weight_decay=-1.0), "weight_decay=-1.0"),
        (dict(weight_decay=float("nan")), "weight_decay=nan"),
        (dict(threads=-1), "threads=-1"),
        (dict(threads=1.5), "threads=1.5"),
        (dict(begin_num_update=-1), "begin_num_update=-1"),
    ]:
        with pytest.raises(adamant.AdamantError, match=re.escape(says) if "=" in says else says):
            at.Adam(p, **kwargs)
    with pytest.raises(adamant.AdamantError, match="correct_bias"):
        at.AdamW(p, correct_bias=False)
    opt = at.Adam(p)
    with pytest.raises(adamant.AdamantError, match=re.escape("lr=-0.5")):
        opt.add_param_group({"params": [torch.nn.Parameter(torch.ones(1))], "lr": -0.5})
    assert len(opt.param_groups) == 1


def test_a_group_that_fails_leaves_every_other_group_unstepped() -> None:
    # Two configurations (two Rust optimizers): the bad gradient of the second is found before
    # the first steps, and named by its place among all the optimizer's parameters.
    a, b = torch.nn.Parameter(torch.ones(3)), torch.nn.Parameter(torch.ones(4, 3))
    opt = at.Adam([{"params": [a]}, {"params": [b], "betas": (0.8, 0.9)}], lr=0.1)
    a.grad, b.grad = torch.ones(3), torch.ones(4, 3)
    opt.step()
    before = snapshot(opt, [a, b])
    a.grad, b.grad = torch.ones(3), torch.ones(3, 4).t()
    with pytest.raises(adamant.AdamantError, match="parameter 1's gradient"):
        opt.step()
    assert_unchanged(before, opt, [a, b])


def test_a_first_step_that_fails_leaves_no_state() -> None:
    a, b = torch.nn.Parameter(torch.ones(3)), torch.nn.Parameter(torch.ones(3, dtype=torch.float16))
    opt = at.Adam([a, b], lr=0.1)
    a.grad, b.grad = torch.ones(3), torch.ones(3, dtype=torch.float16)
    with pytest.raises(adamant.AdamantError, match="multi_precision"):
        opt.step()
    assert len(opt.state) == 0 and opt.state_dict()["state"] == {}


def test_a_failed_step_leaves_the_mxnet_scheduler_where_it_was() -> None:
    sched = adamant.lr_scheduler.FactorScheduler(step=1, factor=0.5, base_lr=0.1)
    emb = torch.nn.Embedding(10, 2, sparse=True)
    opt = at.Adam(emb.parameters(), rule="mxnet", lr_scheduler=sched)
    emb(torch.tensor([1])).sum().backward()
    opt.step()
    state = sched.state()
    emb.weight.grad = torch.sparse_coo_tensor(torch.tensor([[11]]), torch.ones(1, 2), (10, 2), check_invariants=False)
    with pytest.raises(adamant.AdamantError):
        opt.step()
    assert sched.state() == state


def test_tensors_whose_memory_holds_other_values_are_refused() -> None:
    p = torch.nn.Parameter(torch.zeros(1))
    opt = stepped_once([p])
    for grad, says in [(torch.conj(torch.tensor([2j])).imag, "is_neg"), (torch._efficientzerotensor(1), "no memory")]:
        refused(opt, [p], says, lambda: setattr(p, "grad", grad))


def test_a_gradient_changed_through_data_is_checked() -> None:
    p = torch.nn.Parameter(torch.zeros(300, dtype=torch.float64))
    opt = stepped_once([p])
    p.grad = torch.ones_like(p)
    refused(opt, [p], "gradient is float32", lambda: setattr(p.grad, "data", torch.ones(300, dtype=torch.float32)))


def test_a_parameter_reviewed_at_the_same_address_is_checked_again() -> None:
    p = torch.nn.Parameter(torch.ones(3, 4, dtype=torch.float16))
    opt = stepped_once([p], multi_precision=True)
    p.data = p.data.view(torch.bfloat16)  # the same memory read as another dtype
    p.grad = torch.ones(3, 4, dtype=torch.bfloat16)
    opt.step()
    assert torch.equal(p.detach(), opt.state[p]["weight32"].to(torch.bfloat16)), "float16 bits were written"


def test_a_state_tensor_given_new_memory_is_checked_again() -> None:
    p = torch.nn.Parameter(torch.zeros(4))
    opt = stepped_once([p])
    p.grad = torch.ones(4)
    # The states adamant makes cannot be resized; one written by another library can.
    with pytest.raises(RuntimeError, match="not resizable"):
        opt.state[p]["exp_avg"].untyped_storage().resize_(0)
    opt.state[p]["exp_avg"] = torch.zeros(4)
    opt.step()
    opt.state[p]["exp_avg"].resize_(256)
    with pytest.raises(adamant.AdamantError, match=r"exp_avg.*shape \[256\]"):
        opt.step()
    opt.state[p]["exp_avg"] = torch.zeros(4)
    kept = opt.state[p]["exp_avg_sq"]
    kept.data = torch.zeros(4)
    opt.step()
    assert (opt.state[p]["exp_avg"] != 0).all() and (kept != 0).all(), "the step wrote elsewhere"


def test_memory_freed_and_given_to_a_smaller_tensor_is_not_written_past() -> None:
    n = 4096
    p = torch.nn.Parameter(torch.randn(n))
    opt = stepped_once([p])
    address = p.data_ptr()
    p.untyped_storage().resize_(0)  # as FSDP frees a parameter's memory
    smaller = next((t for t in (torch.zeros(m) for m in (n - 64, n // 2, 1000) for _ in range(20))
                    if t.data_ptr() == address), None)
    if smaller is None:
        pytest.skip("the allocator gave no tensor the freed address")  # not counted as passed
    p.data = smaller
    p.grad = torch.ones_like(smaller)
    with pytest.raises(adamant.AdamantError, match="shape"):
        opt.step()


def test_tensors_without_memory_in_a_state_or_a_sparse_gradient_are_refused() -> None:
    p = torch.nn.Parameter(torch.randn(4))
    opt = at.Adam([p])
    p.grad = torch.ones(4)
    opt.state[p] = {"step": torch._efficientzerotensor((), dtype=torch.int64)}
    with pytest.raises(adamant.AdamantError, match="no memory"):
        opt.step()
    emb = torch.nn.Embedding(10, 3, sparse=True)
    opt = at.Adam(emb.parameters())
    emb(torch.tensor([1, 2])).sum().backward()
    emb.weight.grad._indices().untyped_storage().resize_(0)
    with pytest.raises(adamant.AdamantError, match="row ids have no memory"):
        opt.step()


def test_a_transposed_view_of_the_same_memory_is_refused() -> None:
    p = torch.nn.Parameter(torch.ones(3, 4))
    opt = stepped_once([p])
    p.data = p.data.t()
    p.grad = torch.ones(3, 4).t()  # autograd's layout for it
    refused(opt, [p], r"has shape \[3, 4\].*the parameter has \[4, 3\]", lambda: None)


def test_a_failed_first_step_leaves_no_state_for_a_tensor_listed_twice() -> None:
    p = torch.nn.Parameter(torch.ones(3))
    with pytest.warns(UserWarning):
        opt = at.Adam([p, p])
    p.grad = torch.ones(3)
    with pytest.raises(adamant.AdamantError, match="share memory"):
        opt.step()
    assert len(opt.state) == 0


def test_a_tensor_in_two_groups_of_different_rules_is_an_error_not_a_silent_skip() -> None:
    p, q = torch.nn.Parameter(torch.ones(4)), torch.nn.Parameter(torch.ones(4))
    opt = at.Adam([{"params": [p, q]}], lr=0.1)
    opt.param_groups.append({**opt.param_groups[0], "params": [p], "rule": "mxnet"})
    p.grad, q.grad = torch.ones(4), torch.ones(4)
    with pytest.raises(adamant.AdamantError):
        opt.step()
    assert len(opt.state) == 0 and torch.equal(q.detach(), torch.ones(4))


def test_steps_from_two_threads_run_one_after_another() -> None:
    params = [torch.nn.Parameter(torch.ones(1000)) for _ in range(50)]
    opt = at.Adam(params, lr=0.01)
    errors: list[BaseException] = []

    def steps() -> None:
        try:
            for _ in range(20):
                for q in params:
                    q.grad = torch.ones_like(q)
                opt.step()
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)
    threads = [threading.Thread(target=steps) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert {int(opt.state[q]["step"]) for q in params} == {40}


def test_the_step_count_stops_with_an_error_at_the_end_of_int64() -> None:
    p = torch.nn.Parameter(torch.ones(2))
    opt = stepped_once([p])
    opt.state[p]["step"].fill_(2**63 - 1)
    p.grad = torch.ones(2)
    refused(opt, [p], "a step counts from 0", lambda: None)


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


@pytest.mark.parametrize("cls", [at.Adam, at.Adamax, at.Nadam, at.LAMB])
@pytest.mark.parametrize("option", [{"lr": -1.0}, {"weight_decay": -1.0}])
def test_a_negative_rate_or_decay_is_refused_under_every_rule(cls: Any, option: dict[str, float]) -> None:
    # As adamant.create and torch.optim refuse them: either would climb the gradient.
    p = torch.nn.Parameter(torch.ones(3))
    with pytest.raises(adamant.AdamantError, match=next(iter(option))):
        cls([p], **option)
