"""``torch.distributed``: two processes on loopback (gloo). ``ZeroRedundancyOptimizer`` over
``adamant.torch.Adam``/``AdamW`` gives the same weights, bit for bit, as plain DDP with the same
optimizer after 20 steps (uneven parameter sizes, a group whose shard is empty on one rank,
``parameters_as_bucket_view``, and mixed dtypes as ZeRO allows them: it refuses parameters of
two dtypes in one optimizer, so the mix is bfloat16 parameters with float32 master weights and
float32 state), and its consolidated state dict resumes a single process for 5 more steps
exactly as the uninterrupted run goes on."""

from __future__ import annotations

import os
import socket
import tempfile
from typing import Any

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch.distributed.optim import ZeroRedundancyOptimizer
from torch.nn.parallel import DistributedDataParallel

import adamant
import adamant.torch as at

WORLD, STEPS, MORE = 2, 20, 5


class Model(torch.nn.Module):
    """Uneven parameters, float32 or (``half``) bfloat16."""

    def __init__(self, half: bool) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.lin1, self.lin2 = torch.nn.Linear(64, 32), torch.nn.Linear(32, 10)
        self.dtype = torch.bfloat16 if half else torch.float32
        self.to(self.dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lin2(torch.tanh(self.lin1(x.to(self.dtype)))).float()

    def groups(self) -> list[dict[str, Any]]:
        # One parameter alone in a group: one rank's shard of that group is empty.
        rest = [p for n, p in self.named_parameters() if n != "lin2.bias"]
        return [{"params": [self.lin2.bias]}, {"params": rest}]


def batch(rank: int, step: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1000 * step + rank)
    return torch.randn(16, 64, generator=g), torch.randint(0, 10, (16,), generator=g)


def optimizer(kind: str, groups: Any, zero: bool, bucket_view: bool) -> torch.optim.Optimizer:
    cls = at.Adam if kind == "adam" else at.AdamW
    kwargs = dict(lr=1e-2, weight_decay=1e-2, threads=1, multi_precision=True)
    if zero:
        return ZeroRedundancyOptimizer(groups, optimizer_class=cls, parameters_as_bucket_view=bucket_view, **kwargs)
    return cls(groups, **kwargs)


def train(model: torch.nn.Module, opt: torch.optim.Optimizer, rank: int, first: int, last: int) -> None:
    for step in range(first, last):
        x, y = batch(rank, step)
        opt.zero_grad(set_to_none=True)
        torch.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()


def worker(rank: int, port: int, out: str, kind: str, half: bool, bucket_view: bool) -> None:
    torch.set_num_threads(1)
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=WORLD)
    try:
        # Plain DDP, every rank stepping every parameter: 20 steps, then 5 more.
        model = Model(half)
        ddp = DistributedDataParallel(model)
        opt = optimizer(kind, model.groups(), zero=False, bucket_view=False)
        train(ddp, opt, rank, 0, STEPS)
        at_20 = [p.detach().clone() for p in model.parameters()]
        train(ddp, opt, rank, STEPS, STEPS + MORE)
        at_25 = [p.detach().clone() for p in model.parameters()]
        # ZeRO: each rank steps its shard and broadcasts it.
        model = Model(half)
        ddp = DistributedDataParallel(model)
        zero = optimizer(kind, model.groups(), zero=True, bucket_view=bucket_view)
        train(ddp, zero, rank, 0, STEPS)
        zero.consolidate_state_dict(to=0)
        if rank == 0:
            torch.save({"ddp_20": at_20, "ddp_25": at_25, "zero_20": [p.detach().clone() for p in model.parameters()],
                        "state": zero.state_dict()}, out)
    finally:
        dist.destroy_process_group()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("kind", ["adam", "adamw"])
@pytest.mark.parametrize("half,bucket_view", [(True, False), (False, True)], ids=["bf16-master", "bucket-view"])
def test_zero_equals_ddp_and_its_consolidated_state_resumes_one_process(kind: str, half: bool,
                                                                         bucket_view: bool) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "result.pt")
        mp.spawn(worker, args=(free_port(), out, kind, half, bucket_view), nprocs=WORLD, join=True)
        result = torch.load(out)
    for a, b in zip(result["zero_20"], result["ddp_20"]):
        assert torch.equal(a, b), "ZeRO and DDP part after 20 steps"

    # One process resumes from the consolidated state: each step averages the two ranks'
    # gradients as DDP does (each halved, then summed), then steps.
    torch.set_num_threads(1)
    model = Model(half)
    with torch.no_grad():
        for p, w in zip(model.parameters(), result["zero_20"]):
            p.copy_(w)
    opt = optimizer(kind, model.groups(), zero=False, bucket_view=False)
    opt.load_state_dict(result["state"])
    for step in range(STEPS, STEPS + MORE):
        grads = []
        for rank in range(WORLD):
            model.zero_grad(set_to_none=True)
            x, y = batch(rank, step)
            torch.nn.functional.cross_entropy(model(x), y).backward()
            grads.append([p.grad / WORLD for p in model.parameters()])
        for p, g0, g1 in zip(model.parameters(), *grads):
            p.grad = g0 + g1
        opt.step()
    for a, b in zip(model.parameters(), result["ddp_25"]):
        assert torch.equal(a.detach(), b), "the resumed process parts from the uninterrupted run"


def clip_worker(rank: int, port: int, out: str) -> None:
    torch.set_num_threads(1)
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=WORLD)
    try:
        # Each rank holds other gradients (a shard of the model, as under ZeRO or FSDP).
        p = torch.nn.Parameter(torch.zeros(1000))
        p.grad = torch.full((1000,), float(rank + 1))
        norm = at.clip_grad_norm_([p], 1.0, process_group=dist.group.WORLD)
        torch.save({"norm": norm, "grad": p.grad}, f"{out}.{rank}")
    finally:
        dist.destroy_process_group()


def test_clipping_by_the_global_norm_is_global_across_processes() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "clip")
        mp.spawn(clip_worker, args=(free_port(), out), nprocs=WORLD, join=True)
        results = [torch.load(f"{out}.{rank}") for rank in range(WORLD)]
    want = (1000 * (1.0**2 + 2.0**2)) ** 0.5
    for rank, r in enumerate(results):
        assert float(r["norm"]) == want, f"rank {rank}: {float(r['norm'])}"
        torch.testing.assert_close(r["grad"], torch.full((1000,), (rank + 1) / (want + 1e-6)))


def test_nadams_shared_schedule_is_refused_under_torch_distributed() -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(free_port()))
    dist.init_process_group("gloo", rank=0, world_size=1)
    try:
        p = torch.nn.Parameter(torch.ones(3))
        opt = at.Nadam([p])
        p.grad = torch.ones(3)
        with pytest.raises(adamant.AdamantError, match="torch.distributed"):
            opt.step()
        assert torch.equal(p.detach(), torch.ones(3)) and len(opt.state) == 0
    finally:
        dist.destroy_process_group()
