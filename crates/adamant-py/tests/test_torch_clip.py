"""``adamant.torch.clip_grad_norm_`` against ``torch.nn.utils.clip_grad_norm_``: the same norm
and the same clipped gradients (within float64 rounding), sparse gradients counted coalesced,
and a norm that is not finite reported, not applied."""

from __future__ import annotations

import pytest
import torch

import adamant
import adamant.torch as at
from models import digits, mlp, twin


def test_the_norm_and_the_clipped_gradients_are_pytorchs() -> None:
    x, y = digits()
    a = mlp()
    b = twin(a)
    for model in (a, b):
        torch.nn.functional.cross_entropy(model(x), y).backward()
    ours = at.clip_grad_norm_(a.parameters(), 0.1)
    theirs = torch.nn.utils.clip_grad_norm_(b.parameters(), 0.1)
    assert abs(float(ours) - float(theirs)) <= 1e-6 * float(theirs)
    for p, q in zip(a.parameters(), b.parameters()):
        torch.testing.assert_close(p.grad, q.grad, rtol=1e-6, atol=1e-9)


def test_a_sparse_gradient_counts_its_repeated_ids_summed() -> None:
    emb = torch.nn.Embedding(10, 2, sparse=True)
    emb(torch.tensor([1, 3, 1])).sum().backward()  # row 1 twice: its gradient is 2
    norm = at.clip_grad_norm_(emb.parameters(), 1e9)
    assert float(norm) == (2 * 2.0**2 + 2 * 1.0**2) ** 0.5


def test_a_norm_that_is_not_finite_is_reported_and_not_applied() -> None:
    p = torch.nn.Parameter(torch.zeros(3))
    p.grad = torch.tensor([1.0, float("inf"), 2.0])
    norm = at.clip_grad_norm_([p], 1.0)
    assert not torch.isfinite(norm)
    assert p.grad[0] == 1.0 and p.grad[2] == 2.0
    with pytest.raises(adamant.AdamantError, match="not finite|inf"):
        at.clip_grad_norm_([p], 1.0, error_if_nonfinite=True)


@pytest.mark.parametrize("max_norm", [float("nan"), 0.0, -1.0])
def test_a_max_norm_that_is_nan_or_not_above_zero_is_refused_and_nothing_is_scaled(max_norm: float) -> None:
    p = torch.nn.Parameter(torch.ones(2))
    p.grad = torch.tensor([3.0, 4.0])
    with pytest.raises(adamant.AdamantError, match="max_norm"):
        at.clip_grad_norm_([p], max_norm)
    assert torch.equal(p.grad, torch.tensor([3.0, 4.0]))
