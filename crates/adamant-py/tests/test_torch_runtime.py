"""Around the step: AMP's GradScaler (an injected inf skips the step with nothing changed), the
GIL (free during a long step), and threads (the same bits for 1, 2 and 4)."""

from __future__ import annotations

import threading

import torch

import adamant.torch as at
from models import digits, mlp, run, twin


def test_grad_scaler_unscales_through_rescale_grad_and_skips_a_step_with_an_inf() -> None:
    x, y = digits(torch.float16)
    model = mlp(torch.float16)
    reference = twin(model)
    opt = at.Adam(model.parameters(), lr=1e-3, multi_precision=True)
    scaler = torch.amp.GradScaler("cpu", init_scale=1024.0)
    ref_opt = at.Adam(reference.parameters(), lr=1e-3, multi_precision=True, rescale_grad=1 / 1024.0)
    for step in range(3):
        for m, o in ((model, opt), (reference, ref_opt)):
            o.zero_grad(set_to_none=True)
            loss = torch.nn.functional.cross_entropy(m(x).float(), y)
            (loss * 1024.0).backward() if o is ref_opt else scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
        ref_opt.step()
        for a, b in zip(model.parameters(), reference.parameters()):
            assert torch.equal(a, b), f"step {step}: 1 / scale is folded into rescale_grad"

    # An inf in one gradient: the step is skipped, nothing changes, the scale backs off.
    opt.zero_grad(set_to_none=True)
    scaler.scale(torch.nn.functional.cross_entropy(model(x).float(), y)).backward()
    next(iter(model.parameters())).grad[0, 0] = float("inf")
    weights = [p.detach().clone() for p in model.parameters()]
    states = {id(p): {k: v.clone() for k, v in s.items()} for p, s in opt.state.items()}
    scale = scaler.get_scale()
    scaler.step(opt)
    scaler.update()
    assert all(torch.equal(p, w) for p, w in zip(model.parameters(), weights))
    for p, s in opt.state.items():
        assert all(torch.equal(v, states[id(p)][k]) for k, v in s.items()), "state and step counts unchanged"
    assert opt.num_update == 3 and scaler.get_scale() < scale


def test_the_gil_is_free_during_a_long_step() -> None:
    p = torch.nn.Parameter(torch.zeros(32 * 1024 * 1024))
    opt = at.Adam([p], lr=1e-3, threads=1)
    p.grad = torch.ones_like(p)
    opt.step()  # state made; the next step is the arithmetic alone
    counted, stop = [0], threading.Event()

    def count() -> None:
        while not stop.is_set():
            counted[0] += 1

    worker = threading.Thread(target=count)
    worker.start()
    try:
        before = counted[0]
        opt.step()
        during = counted[0] - before
    finally:
        stop.set()
        worker.join()
    # Holding the GIL, the step would leave the counter still: no bytecode runs meanwhile.
    assert during > 1000, during


def test_every_thread_count_gives_the_same_bits() -> None:
    x, y = digits()
    torch.manual_seed(3)
    base = torch.nn.Sequential(torch.nn.Linear(64, 512), torch.nn.Tanh(), torch.nn.Linear(512, 512), torch.nn.Tanh(),
                               torch.nn.Linear(512, 10))
    results = []
    for threads in (1, 2, 4):
        model = twin(base)
        opt = at.AdamW(model.parameters(), lr=1e-3, threads=threads)
        run(model, opt, x, y, 3)
        results.append([p.detach().clone() for p in model.parameters()])
    for other in results[1:]:
        assert all(torch.equal(a, b) for a, b in zip(results[0], other))
