"""``rule="torch"`` against ``torch.optim.Adam``/``AdamW`` (single-tensor path) on real models
for 100 steps: every weight and state element within |a - b| <= 1e-6 + 1e-5 |b| (float64:
1e-14 + 1e-13 |b|) and each tensor's relative L2 difference within 1e-5. The same check passes
PyTorch's own ``fused=True`` path and fails ``rule="mxnet"``, so it can tell rules apart."""

from __future__ import annotations

from typing import Any

import pytest
import torch

import adamant.torch as at
from models import conv, digits, mlp, run, twin

STEPS = 100


def within(a: torch.Tensor, b: torch.Tensor) -> tuple[bool, str]:
    atol, rtol = (1e-14, 1e-13) if a.dtype == torch.float64 and b.dtype == torch.float64 else (1e-6, 1e-5)
    a, b = a.detach().double(), b.detach().double()
    worst = ((a - b).abs() - (atol + rtol * b.abs())).max().item()
    l2 = ((a - b).norm() / b.norm().clamp_min(1e-30)).item()
    return worst <= 0 and l2 <= 1e-5, f"worst excess {worst:.3e}, relative L2 {l2:.3e}"


def same_training(m1: torch.nn.Module, o1: torch.optim.Optimizer, m2: torch.nn.Module,
                  o2: torch.optim.Optimizer) -> tuple[bool, str]:
    """Whether two trained models and their optimizers' states agree within the tolerance."""
    for (name, p1), p2 in zip(m1.named_parameters(), m2.parameters()):
        ok, why = within(p1, p2)
        if not ok:
            return False, f"{name}: {why}"
        s1, s2 = o1.state[p1], o2.state[p2]
        for key in ("exp_avg", "exp_avg_sq", "max_exp_avg_sq"):
            if key in s2:
                ok, why = within(s1[key], s2[key])
                if not ok:
                    return False, f"{name} {key}: {why}"
        assert int(s1["step"]) == int(s2["step"]) == STEPS
    return True, ""


# Rates at which 100 full-batch steps stay on one trajectory: at 1e-2 with weight decay the
# training itself is chaotic enough that PyTorch's fused and single-tensor paths part (by 4e-4).
CONFIGS = [
    (at.Adam, torch.optim.Adam, dict(lr=3e-3)),
    (at.Adam, torch.optim.Adam, dict(lr=3e-3, weight_decay=1e-2, betas=(0.8, 0.99))),
    (at.Adam, torch.optim.Adam, dict(lr=3e-3, amsgrad=True, eps=1e-6)),
    (at.Adam, torch.optim.Adam, dict(lr=1e-3, maximize=True)),
    (at.AdamW, torch.optim.AdamW, dict(lr=3e-3)),
    (at.AdamW, torch.optim.AdamW, dict(lr=3e-3, weight_decay=0.1, amsgrad=True)),
]


@pytest.mark.parametrize("ours,theirs,kwargs", CONFIGS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_torch_rule_trains_an_mlp_as_torch_optim_does(ours: Any, theirs: Any, kwargs: dict[str, Any],
                                                      dtype: torch.dtype) -> None:
    x, y = digits(dtype)
    m1 = mlp(dtype)
    m2 = twin(m1)
    o1, o2 = ours(m1.parameters(), **kwargs), theirs(m2.parameters(), foreach=False, **kwargs)
    run(m1, o1, x, y, STEPS)
    run(m2, o2, x, y, STEPS)
    ok, why = same_training(m1, o1, m2, o2)
    assert ok, why


def test_a_channels_last_convolution_trains_in_place() -> None:
    x, y = digits()
    images = lambda t: t.reshape(-1, 1, 8, 8)  # noqa: E731
    m1 = conv()
    m2 = twin(m1)
    assert not m1[2].weight.is_contiguous() and m1[2].weight.is_contiguous(memory_format=torch.channels_last)
    o1, o2 = at.AdamW(m1.parameters(), lr=3e-3), torch.optim.AdamW(m2.parameters(), lr=3e-3, foreach=False)
    run(m1, o1, x, y, STEPS, images)
    run(m2, o2, x, y, STEPS, images)
    ok, why = same_training(m1, o1, m2, o2)
    assert ok, why
    assert o1.state[m1[2].weight]["exp_avg"].stride() == m1[2].weight.stride(), "state keeps the weight's strides"


def test_the_check_passes_torchs_fused_path_and_fails_mxnets_rule() -> None:
    x, y = digits()
    base = mlp()
    reference = twin(base)
    o_ref = torch.optim.Adam(reference.parameters(), lr=3e-3, foreach=False)
    run(reference, o_ref, x, y, STEPS)

    fused = twin(base)
    o_fused = torch.optim.Adam(fused.parameters(), lr=3e-3, fused=True)
    run(fused, o_fused, x, y, STEPS)
    ok, why = same_training(fused, o_fused, reference, o_ref)
    assert ok, f"PyTorch's fused path: {why}"

    mxnet = twin(base)
    o_mxnet = at.Adam(mxnet.parameters(), lr=3e-3, rule="mxnet")
    run(mxnet, o_mxnet, x, y, STEPS)
    mxnet_state = {p: {"exp_avg": s["mean"], "exp_avg_sq": s["var"], "step": s["step"]} for p, s in o_mxnet.state.items()}
    o_mxnet.state = mxnet_state  # type: ignore[assignment]  # name the moments as PyTorch does
    ok, why = same_training(mxnet, o_mxnet, reference, o_ref)
    assert not ok, "MXNet's rule must fail the check (eps after the bias correction differs)"


def test_the_lazy_update_is_sparse_adams_on_an_embedding_bag() -> None:
    torch.manual_seed(1)
    bag = torch.nn.EmbeddingBag(1000, 16, mode="sum", sparse=True)
    ref = twin(bag)
    o1 = at.Adam(bag.parameters(), lr=1e-2)
    o2 = torch.optim.SparseAdam(list(ref.parameters()), lr=1e-2)
    for step in range(30):
        ids = torch.randint(0, 1000, (64, 8), generator=torch.Generator().manual_seed(step))
        for module, opt in ((bag, o1), (ref, o2)):
            opt.zero_grad(set_to_none=True)
            module(ids).pow(2).sum().backward()
            assert module.weight.grad.is_sparse
            opt.step()
    ok, why = within(bag.weight, ref.weight)
    assert ok, why
    for key in ("exp_avg", "exp_avg_sq"):
        ok, why = within(o1.state[bag.weight][key], o2.state[ref.weight][key])
        assert ok, f"{key}: {why}"
