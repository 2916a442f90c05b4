"""Every MXNet golden case replayed through ``adamant.torch.Adam``/``AdamW`` with
``rule="mxnet"`` (and ``Adamax``/``Nadam``/``LAMB``, MXNet's only), bit for bit, Nadam's shared
``m_schedule`` included; and PyTorch's golden files through ``rule="torch"``, within their
tolerance. Per-index multipliers become one parameter group per parameter, as a PyTorch user
would write them."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

import adamant.torch as at
from adamant import lr_scheduler
from golden import cases, compare, config, decode, number, tolerance

MXNET = list(cases("mxnet"))
TORCH = list(cases("torch"))


def multiplier(cfg: dict[str, Any], kind: str, index: int) -> float:
    """MXNet's lookup: the multiplier by index, else by name, else 1."""
    m = cfg.get(kind) or {}
    names = cfg.get("param_idx2name") or {}
    if str(index) in (m.get("by_index") or {}):
        return float(m["by_index"][str(index)])
    name = names.get(str(index))
    return float((m.get("by_name") or {}).get(name, 1.0)) if name is not None else 1.0


def build(case: dict[str, Any], rule: str) -> tuple[torch.optim.Optimizer, dict[int, torch.nn.Parameter]]:
    name, cfg = config(case)
    params = {p["index"]: torch.nn.Parameter(torch.from_numpy(decode(p["dtype"], p["weight"]).copy()).reshape(p["shape"]))
              for p in case["params"]}
    sched = lr_scheduler.from_dict(cfg["lr_scheduler"]) if cfg.get("lr_scheduler") else None
    lr = cfg.get("learning_rate")
    wd = float(cfg.get("wd") or 0.0)
    groups = []
    for index, p in sorted(params.items()):
        mult = multiplier(cfg, "lr_mult", index)
        group: dict[str, Any] = {"params": [p], "weight_decay": wd * multiplier(cfg, "wd_mult", index)}
        if sched is not None:
            group["lr_mult"] = mult
        else:
            group["lr"] = (0.001 if lr is None else float(lr)) * mult
        groups.append(group)
    kwargs: dict[str, Any] = dict(betas=(cfg["beta1"], cfg["beta2"]), eps=cfg["epsilon"], rule=rule,
                                  rescale_grad=number(cfg.get("rescale_grad", 1.0)),
                                  multi_precision=bool(cfg.get("multi_precision")),
                                  begin_num_update=int(cfg.get("begin_num_update") or 0), threads=1)
    if rule == "mxnet":
        kwargs.update(clip_gradient=cfg.get("clip_gradient"), lazy_update=bool(cfg.get("lazy_update", False)),
                      lr_scheduler=sched, lr=None if sched is None else lr)
    else:
        kwargs.update(amsgrad=bool(cfg.get("amsgrad")), maximize=bool(cfg.get("maximize")))
    if name == "lamb":
        kwargs.pop("lazy_update", None)
        kwargs.update(formula=cfg.get("formula", "2.0"), lamb_kernel=cfg.get("lamb_kernel", "multi"),
                      lower_bound=cfg.get("lower_bound"), upper_bound=cfg.get("upper_bound"),
                      bias_correction=cfg.get("bias_correction", True))
        opt: torch.optim.Optimizer = at.LAMB(groups, **kwargs)
    elif name in ("adamax", "nadam"):
        kwargs.update(formula=cfg.get("formula", "2.0"), half_math=cfg.get("half_math"))
        if name == "nadam":
            kwargs.update(schedule_decay=cfg["schedule_decay"])
        opt = (at.Adamax if name == "adamax" else at.Nadam)(groups, **kwargs)
    elif name == "adam":
        if rule == "mxnet":
            kwargs.update(wd_order=cfg.get("wd_order"), half_math=cfg.get("half_math"))
        opt = at.Adam(groups, **kwargs)
    else:
        if rule == "mxnet":
            kwargs.update(correct_bias=cfg.get("correct_bias", True), adamw_kernel=cfg.get("adamw_kernel"))
        opt = at.AdamW(groups, **kwargs)
    return opt, params


def replay(case: dict[str, Any], data: dict[str, Any], rule: str) -> None:
    opt, params = build(case, rule)
    dtypes = {p["index"]: p["dtype"] for p in case["params"]}
    for s, step in enumerate(case["steps"]):
        if "rescale_grad" in step:
            for group in opt.param_groups:
                group["rescale_grad"] = number(step["rescale_grad"])
        # MXNet's updater steps one (index, grad) at a time: one step() per gradient.
        for g in step["grads"]:
            p = params[g["index"]]
            values = torch.from_numpy(decode(dtypes[g["index"]], g["values"]).copy())
            if g["stype"] == "row_sparse":
                rows = torch.tensor(g["row_indices"], dtype=torch.int64).reshape(1, -1)
                shape = (rows.shape[1],) + tuple(p.shape[1:])
                p.grad = torch.sparse_coo_tensor(rows, values.reshape(shape), p.shape, check_invariants=True)
            else:
                p.grad = values.reshape(p.shape)
            opt.step()
            p.grad = None
        exact, expect = case["exact"], step["expect"]
        for w in expect["weights"]:
            i = w["index"]
            got = params[i].detach().numpy()
            compare(f"step {s} index {i} weight", got, w["weight"], dtypes[i], exact, tolerance(data, dtypes[i]))
        for st in expect["states"]:
            i = st["index"]
            state = opt.state.get(params[i], {})
            for key, bits in st.items():
                if key == "index":
                    continue
                tensor = state.get(key)
                got = np.zeros(params[i].numel(), dtypes[i]) if tensor is None else tensor.numpy()
                dtype = dtypes[i] if tensor is None else str(got.dtype)
                compare(f"step {s} index {i} {key}", got, bits, dtype, exact, tolerance(data, dtype))
        assert opt.num_update == expect["num_update"], f"step {s}: num_update {opt.num_update}"
        if "m_schedule" in expect:
            got = np.float64(opt.state_dict()["adamant"]["scalars"]["m_schedule"])
            assert got.view(np.uint64) == np.uint64(expect["m_schedule"]), f"step {s}: m_schedule {got!r}"
        for index, count in expect["update_counts"].items():
            assert int(opt.state[params[int(index)]]["step"]) == count, f"step {s}: index {index}'s count"


@pytest.mark.parametrize("case_id,case,data", MXNET, ids=[c[0] for c in MXNET])
def test_mxnet_golden_case_through_torch(case_id: str, case: dict[str, Any], data: dict[str, Any]) -> None:
    replay(case, data, "mxnet")


@pytest.mark.parametrize("case_id,case,data", TORCH, ids=[c[0] for c in TORCH])
def test_torch_golden_case_through_torch(case_id: str, case: dict[str, Any], data: dict[str, Any]) -> None:
    replay(case, data, "torch")
