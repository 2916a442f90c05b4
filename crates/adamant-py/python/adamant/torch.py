"""Drop-in PyTorch optimizers: ``adamant.torch.Adam`` and ``adamant.torch.AdamW``, and MXNet's
``Adamax``, ``Nadam`` and ``LAMB`` (MXNet's arithmetic only; see their docstrings).

They take ``torch.optim.Adam``'s and ``torch.optim.AdamW``'s signature and, by default
(``rule="torch"``), compute what they compute::

    model = torch.nn.Linear(64, 10)
    opt = adamant.torch.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01)
    loss.backward(); opt.step(); opt.zero_grad()

``rule="mxnet"`` gives MXNet's arithmetic bit for bit instead (its bias correction folded into
the rate, epsilon outside the corrected root), with MXNet's options under their own names:
``rescale_grad``, ``clip_gradient``, ``wd_order``, ``half_math``, ``multi_precision``,
``lazy_update`` and ``lr_scheduler`` (one of :mod:`adamant.lr_scheduler`).

What differs from ``torch.optim``:

* One ``step()`` is one parallel pass over all parameters, in Rust, with the GIL released;
  ``threads`` (default ``torch.get_num_threads()``) sets its pool. Results are the same bits
  for every thread count.
* Sparse gradients (``nn.Embedding(sparse=True)``) are stepped in place, uncoalesced, with
  repeated ids summed: lazily by default (``lazy_update=True``, only the listed rows change;
  under ``rule="torch"`` this is ``torch.optim.SparseAdam``'s update), so one optimizer serves
  a model's dense and embedding parameters. ``weight_decay`` or ``amsgrad`` on such a group is
  refused, as SparseAdam has neither.
* float16 and bfloat16 parameters need ``multi_precision=True`` under ``rule="torch"`` (float32
  master weights and state, as AMP keeps them); ``torch.amp.GradScaler`` works with them.
* State lives in ``optimizer.state[p]`` as tensors: ``step`` (int64, exact past 2**24) and the
  rule's arrays (``exp_avg``, ``exp_avg_sq``, ``max_exp_avg_sq``; ``mean``, ``var`` under
  MXNet's rule; ``weight32``, the master copy). ``state_dict()`` holds only tensors, numbers,
  strings, lists and dicts (``torch.load`` with its defaults reads it), and moves between this
  optimizer and ``torch.optim.Adam`` in both directions.
* Parameters are used in place: a CPU tensor whose memory covers its elements once (a
  ``channels_last`` weight is fine) with a gradient and state of its dtype and strides. A CUDA
  tensor, a gradient of another shape, dtype or strides, a complex or sparse-layout parameter,
  or two tensors of one step sharing memory are refused with an :class:`adamant.AdamantError`
  that says why, and nothing changes.
"""

from __future__ import annotations

import json
import math
import numbers
import threading
from collections.abc import Iterable
from itertools import chain
from typing import Any, Callable, Optional

import numpy as np
import torch

from . import AdamantError, config_json, lr_scheduler
from ._adamant import Optimizer as _Engine
from ._adamant import sum_of_squares as _sum_of_squares
from ._adamant import torch_step as _torch_step

__all__ = ["Adam", "AdamW", "Adamax", "LAMB", "Nadam", "clip_grad_norm_"]

_DTYPES = {
    torch.float16: "float16",
    torch.bfloat16: "bfloat16",
    torch.float32: "float32",
    torch.float64: "float64",
}
_TORCH_DTYPES = {name: dtype for dtype, name in _DTYPES.items()}
_MASTER = "weight32"
# The most configurations (one Rust optimizer each) kept at once.
_MAX_ENGINES = 8


# The state arrays of PyTorch's rule and of MXNet's that hold the same moments.
_SAME_MOMENT = {"exp_avg": "mean", "mean": "exp_avg", "exp_avg_sq": "var", "var": "exp_avg_sq"}
# A step count is an int64.
_MAX_STEP = 2**63 - 1


_NUMPY_OF = {torch.float16: np.float16, torch.bfloat16: np.uint16, torch.float32: np.float32,
             torch.float64: np.float64}


def _fixed(array: np.ndarray) -> torch.Tensor:
    """``array`` as a tensor whose storage cannot be resized: a step keeps the addresses of
    state tensors between steps, and such storage cannot be freed under them."""
    return torch.from_numpy(array)


def _fixed_like(p: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """Zeros of ``dtype`` laid out as ``p`` (its strides, ``channels_last`` included), in
    storage that cannot be resized."""
    flat = _fixed(np.zeros(p.numel(), dtype=_NUMPY_OF[dtype]))
    if dtype == torch.bfloat16:
        flat = flat.view(torch.bfloat16)
    try:
        return flat.as_strided(p.shape, p.stride())
    except RuntimeError:
        # Strides with gaps: the step refuses such a parameter, naming it.
        return flat.view(p.shape)


def _number(x: Any, name: str = "lr") -> float:
    """A group option given as a real number or a 1-element tensor (PyTorch allows a tensor
    ``lr``), as a float."""
    if isinstance(x, torch.Tensor):
        if x.numel() != 1:
            raise AdamantError(f"{name} is a tensor of {x.numel()} elements; give a number or a 1-element tensor")
        return float(x.item())
    if isinstance(x, bool) or not isinstance(x, numbers.Real):
        raise AdamantError(f"{name}={x!r}: give a number")
    return float(x)


def _count(x: Any, name: str) -> int:
    """A non-negative integer option (``threads``, ``begin_num_update``)."""
    if isinstance(x, bool) or not isinstance(x, numbers.Integral) or not 0 <= int(x) <= _MAX_STEP:
        raise AdamantError(f"{name}={x!r}: give a whole number from 0 to {_MAX_STEP}")
    return int(x)


def _step_count(value: Any, where: str) -> int:
    """A saved ``step`` (an int64 or float tensor, or a number) as the exact count it holds."""
    if isinstance(value, torch.Tensor):
        if value.numel() != 1:
            raise AdamantError(f"{where}: \"step\" is a tensor of {value.numel()} elements")
        try:
            value = value.item()
        except RuntimeError as e:  # a meta tensor holds no value
            raise AdamantError(f"{where}: \"step\" cannot be read ({e})") from e
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise AdamantError(f"{where}: \"step\" is {value!r}, not a count")
    if isinstance(value, numbers.Integral):
        count = int(value)
    elif math.isfinite(value) and float(value).is_integer():
        count = int(float(value))
    else:
        raise AdamantError(f"{where}: \"step\" is {value!r}, not a whole number")
    if not 0 <= count <= _MAX_STEP:
        raise AdamantError(f"{where}: \"step\" is {count}; a step counts from 0 to {_MAX_STEP}")
    return count


class _AdamFamily(torch.optim.Optimizer):
    """The machinery shared by :class:`Adam` and :class:`AdamW`."""

    _registry_name = "adam"

    def __init__(
        self,
        params: Iterable[Any],
        lr: Any,
        betas: tuple[Any, Any],
        eps: float,
        weight_decay: float,
        amsgrad: bool,
        *,
        maximize: bool,
        foreach: Optional[bool],
        capturable: bool,
        differentiable: bool,
        fused: Optional[bool],
        rule: str,
        rescale_grad: float,
        clip_gradient: Optional[float],
        lazy_update: bool,
        multi_precision: bool,
        wd_order: Optional[str],
        half_math: Optional[str],
        lr_scheduler: Optional[lr_scheduler.LRScheduler],
        begin_num_update: int,
        threads: Optional[int],
        extra: dict[str, Any],
    ) -> None:
        for name, value in (("capturable", capturable), ("differentiable", differentiable)):
            if value:
                raise AdamantError(f"{name}=True: adamant steps CPU tensors outside autograd; leave {name} False")
        if rule not in ("torch", "mxnet"):
            raise AdamantError(f"rule={rule!r}: must be 'torch' or 'mxnet'")
        if lr_scheduler is not None and rule != "mxnet":
            raise AdamantError("lr_scheduler is MXNet's: give rule='mxnet', or use torch.optim.lr_scheduler")
        if lr_scheduler is not None and lr is not None:
            # An explicit rate overrides the schedule's base rate (docs/semantics.md).
            lr_scheduler = lr_scheduler.with_base_lr(_number(lr))
        if lr is None:
            lr = lr_scheduler.base_lr if lr_scheduler is not None else 1e-3
        # What add_param_group (called by the constructor below) needs.
        self._threads = torch.get_num_threads() if threads is None else _count(threads, "threads")
        self._engines: dict[str, _Engine] = {}
        self._lr_scheduler = lr_scheduler
        self._lock = threading.RLock()
        defaults = dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
                        maximize=maximize, foreach=foreach, capturable=False, differentiable=False, fused=fused,
                        rule=rule, rescale_grad=rescale_grad, clip_gradient=clip_gradient, lazy_update=lazy_update,
                        multi_precision=multi_precision, wd_order=wd_order, half_math=half_math,
                        begin_num_update=_count(begin_num_update, "begin_num_update"), **extra)
        super().__init__(params, defaults)
        self._step_supports_amp_scaling = True
        # Scalars the rule keeps across steps (Nadam's m_schedule), kept here between steps.
        self._scalars: dict[str, float] = dict(self._engine(self.param_groups[0]).scalars()) \
            if self.param_groups else {}
        self._num_update = max((int(g["begin_num_update"]) for g in self.param_groups), default=0)

    def __getstate__(self) -> dict[str, Any]:
        state = super().__getstate__()
        state.update(_threads=self._threads, _num_update=self._num_update, _lr_scheduler=self._lr_scheduler,
                     _scalars=self._scalars, _step_supports_amp_scaling=True)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        self._lock = threading.RLock()
        self._engines = {}

    @property
    def num_update(self) -> int:
        """The largest step count of any parameter (MXNet's ``num_update``; under
        torch.distributed, of this rank's parameters)."""
        return self._num_update

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """``torch.optim.Optimizer.add_param_group``, with the group's options checked now (an
        option adamant refuses raises :class:`adamant.AdamantError` here, not at a step)."""
        with self._lock:
            candidate = {**self.defaults, **{k: v for k, v in param_group.items() if k != "params"}}
            if self._lr_scheduler is not None:
                candidate.setdefault("lr_mult", 1.0)
            self._check_group(candidate)
            super().add_param_group(param_group)
            if self._lr_scheduler is not None:
                self.param_groups[-1].setdefault("lr_mult", 1.0)

    # --- configuration -------------------------------------------------------------------

    def _check_group(self, group: dict[str, Any]) -> tuple[_Engine, float, float]:
        """Checks ``group``'s options as a step reads them; returns its Rust optimizer, rate and
        decay."""
        engine = self._engine(group)
        lr, wd = _number(group["lr"]), _number(group["weight_decay"], "weight_decay")
        # As the library's own constructors (adamant.create) and torch.optim check them.
        if not math.isfinite(lr) or lr < 0:
            raise AdamantError(f"lr={lr!r}: the learning rate must be finite and >= 0")
        if not math.isfinite(wd) or wd < 0:
            raise AdamantError(f"weight_decay={wd!r}: must be finite and >= 0")
        if group.get("capturable") or group.get("differentiable"):
            raise AdamantError("capturable and differentiable are PyTorch's GPU and autograd paths; leave them False")
        if self._lr_scheduler is not None:
            # The scheduler's rate times the group's lr_mult and its lr relative to the
            # scheduler's base rate (1 unless a PyTorch scheduler or the user changed it; 0
            # freezes the group, as torch.distributed.checkpoint's state initialisation needs).
            base = self._lr_scheduler.base_lr
            relative = 1.0 if lr == base else (lr / base if base != 0.0 else math.inf)
            if not math.isfinite(relative):
                raise AdamantError(f"lr={lr!r} relative to the MXNet scheduler's base_lr 0")
            lr = relative * _number(group["lr_mult"], "lr_mult")
        return engine, lr, wd

    def _registry_config(self, group: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        """The registry's name and configuration for ``group`` (rates and decay come per step).
        MXNet's options are passed whenever they are set, so that the library refuses them
        under PyTorch's rule."""
        beta1, beta2 = (_number(b, "betas") for b in group["betas"])
        config: dict[str, Any] = dict(beta1=beta1, beta2=beta2, epsilon=_number(group["eps"], "eps"),
                                      multi_precision=bool(group["multi_precision"]),
                                      rescale_grad=_number(group["rescale_grad"], "rescale_grad"),
                                      clip_gradient=group["clip_gradient"], half_math=group["half_math"])
        config.update(self._extra_config(group))
        # torch.optim.Adam reads decoupled_weight_decay per group: AdamW's registry entry.
        name = "adamw" if group.get("decoupled_weight_decay") else self._registry_name
        return name, {k: v for k, v in config.items() if v is not None}

    def _extra_config(self, group: dict[str, Any]) -> dict[str, Any]:
        """The options of this optimizer beyond those every member has (Adam's rule)."""
        config: dict[str, Any] = dict(rule=group["rule"], wd_order=group["wd_order"],
                                      lazy_update=bool(group["lazy_update"]))
        if group["rule"] == "torch":
            config.update(amsgrad=bool(group["amsgrad"]), maximize=bool(group["maximize"]))
        else:
            for key in ("amsgrad", "maximize"):
                if group[key]:
                    raise AdamantError(f"{key}=True is PyTorch's; give rule='torch'")
        return config

    def _engine(self, group: dict[str, Any]) -> _Engine:
        """The Rust optimizer for ``group``'s configuration (one per distinct configuration;
        PyTorch's schedulers may rewrite ``betas`` every step)."""
        name, config = self._registry_config(group)
        key = name + json.dumps(config, sort_keys=True)
        engine = self._engines.get(key)
        if engine is None:
            # A scheduler that cycles the betas makes a configuration per step: keep the few
            # most recent (each holds a thread pool and what its steps checked).
            if len(self._engines) >= _MAX_ENGINES:
                del self._engines[next(iter(self._engines))]
            engine = _Engine(name, config_json(config), self._threads)
            self._engines[key] = engine
        return engine

    # --- the step ------------------------------------------------------------------------

    @torch.no_grad()
    def step(self, closure: Optional[Callable[[], Any]] = None) -> Any:
        """One step of every parameter with a gradient; ``closure`` re-evaluates the loss.
        Every group is checked before any parameter changes; on an error nothing has changed.
        Steps from several threads run one after another."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        with self._lock:
            self._step()
        return loss

    def _step(self) -> None:
        # torch.amp.GradScaler sets these: skip on an inf or NaN (nothing changes, as PyTorch's
        # optimizers skip), else fold 1 / scale into rescale_grad.
        found_inf = getattr(self, "found_inf", None)
        if found_inf is not None and float(found_inf) != 0.0:
            return
        grad_scale = getattr(self, "grad_scale", None)
        inv_scale = 1.0 if grad_scale is None else 1.0 / float(grad_scale)
        buckets: dict[int, tuple[_Engine, float, list[Any]]] = {}
        first = 0
        for group in self.param_groups:
            engine, lr, wd = self._check_group(group)
            rescale = _number(group["rescale_grad"], "rescale_grad") * inv_scale
            buckets.setdefault(id(engine), (engine, rescale, []))[2].append((group["params"], lr, wd, first))
            first += len(group["params"])
        scheduler = self._lr_scheduler._scheduler if self._lr_scheduler is not None else None
        bucket_list = list(buckets.values())
        if self._scalars:
            # Nadam's momentum schedule is one number for all parameters: one configuration,
            # one process.
            if len(bucket_list) > 1:
                raise AdamantError(f"{type(self).__name__} keeps one momentum schedule for all its parameters; its "
                                   "groups may differ in lr and weight_decay only")
            if torch.distributed.is_available() and torch.distributed.is_initialized():
                raise AdamantError(f"{type(self).__name__}'s momentum schedule is one number advanced by every "
                                   "parameter's update, which a process holding some of the parameters cannot "
                                   "reproduce: use it without torch.distributed")
            bucket_list[0][0].restore_scalars(list(self._scalars.items()))
        missing, num_update = _torch_step(bucket_list, self.state, scheduler, self._num_update)
        if missing:
            previous: list[tuple[torch.Tensor, Optional[dict[str, Any]]]] = []
            try:
                self._init_state(missing, previous)
                missing, num_update = _torch_step(bucket_list, self.state, scheduler, self._num_update)
                if missing:
                    # Only a tensor in two groups whose configurations keep different state.
                    where = sorted(self._indices()[id(p)] for p in missing)
                    raise AdamantError(f"parameters {where} are in two groups that keep different state; "
                                       "a tensor may be in one group only")
            except BaseException:
                # A step that fails leaves no state behind it (undone last first: a tensor
                # listed twice was recorded twice).
                for p, before in reversed(previous):
                    if before is None:
                        self.state.pop(p, None)
                    else:
                        self.state[p] = before
                raise
        self._num_update = num_update
        if self._scalars:
            self._scalars = dict(bucket_list[0][0].scalars())

    def _indices(self) -> dict[int, int]:
        """Each parameter's position among the optimizer's, by ``id`` (errors name it)."""
        positions: dict[int, int] = {}
        for i, p in enumerate(p for g in self.param_groups for p in g["params"]):
            positions.setdefault(id(p), i)
        return positions

    def _group_of(self, params: list[torch.Tensor]) -> dict[int, dict[str, Any]]:
        """Each parameter's group, by ``id``."""
        groups = {id(p): g for g in self.param_groups for p in g["params"]}
        return {id(p): groups[id(p)] for p in params}

    def _init_state(self, params: list[torch.Tensor], previous: list[tuple[torch.Tensor, Optional[dict[str, Any]]]]) -> None:
        """Completes the state of ``params``: a fresh state has the step count at
        ``begin_num_update``, zero moments and a master copy; a state loaded or written by
        another library gets what it lacks (a master copy from the weight, AMSGrad's maximum),
        and one that lacks moments while counting steps is refused. Appends each parameter's
        state as it was to ``previous``, for undoing."""
        groups = self._group_of(params)
        indices = self._indices()
        fresh = [p for p in params if "step" not in self.state.get(p, {})]
        # The step counts of fresh states side by side in one tensor (each state holds a view of
        # its element): a step reads and writes them in one sweep.
        counts = _fixed(np.array([int(groups[id(p)]["begin_num_update"]) for p in fresh], dtype=np.int64))
        steps = {id(p): counts[i] for i, p in enumerate(fresh)}
        for p in params:
            i = indices[id(p)]
            name = _DTYPES.get(p.dtype)
            if name is None:
                raise AdamantError(f"parameter {i} has dtype {p.dtype}; adamant steps float16, bfloat16, float32 and float64")
            names, dtype = self._engine(groups[id(p)]).layout(name)
            before = self.state.get(p)
            state = dict(before) if before is not None else {}
            # A state that counts steps but lacks its moments came from elsewhere.
            counting = "step" in state and _step_count(state["step"], f"parameter {i}") > 0
            if "step" not in state:
                state["step"] = steps[id(p)]
            for array in names:
                if array in state:
                    continue
                if array == _MASTER:
                    state[array] = _fixed_like(p, torch.float32).copy_(p.detach())
                elif counting and array != "max_exp_avg_sq":
                    raise AdamantError(
                        f"parameter {i} has a state at step {int(state['step'])} without {array!r} "
                        f"(it has {sorted(state)}): load a state of this optimizer's rule and options")
                else:
                    state[array] = _fixed_like(p, _TORCH_DTYPES[dtype])
            previous.append((p, before))
            self.state[p] = state

    # --- state dicts ---------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """PyTorch's layout (``state`` by parameter index, ``param_groups``), plus the MXNet
        scheduler's state under ``"adamant"``; only tensors and plain values."""
        with self._lock:
            state = super().state_dict()
            extra: dict[str, Any] = {"num_update": self._num_update}
            if self._scalars:
                extra["scalars"] = dict(self._scalars)
            if self._lr_scheduler is not None:
                extra["lr_scheduler"] = {"schedule": self._lr_scheduler.to_dict(),
                                         "state": list(self._lr_scheduler.state())}
            state["adamant"] = extra
            return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Loads a state dict of this optimizer or of ``torch.optim.Adam``/``AdamW``: float
        state keeps its saved dtype where this optimizer keeps it (float32 master weights and
        moments of half-precision parameters; PyTorch's loader would cast them to the
        parameter's dtype), ``step`` becomes an exact int64 count, moments move between
        PyTorch's names and MXNet's (``exp_avg``/``mean``, ``exp_avg_sq``/``var``), and a missing
        master copy is made from the parameter. Everything is checked first: on an error
        nothing has changed."""
        with self._lock:
            self._load_state_dict(state_dict)

    def _load_state_dict(self, state_dict: dict[str, Any]) -> None:
        if not isinstance(state_dict, dict) or not {"state", "param_groups"} <= state_dict.keys():
            raise AdamantError("a state dict is a dict with 'state' and 'param_groups'")
        saved_state, saved_groups = state_dict["state"], state_dict["param_groups"]
        if len(saved_groups) != len(self.param_groups) or any(
                len(s["params"]) != len(g["params"]) for s, g in zip(saved_groups, self.param_groups)):
            raise AdamantError("the state dict's parameter groups differ in number or size from this optimizer's")
        restored: list[tuple[torch.Tensor, dict[str, Any]]] = []
        index = 0
        for saved_group, group in zip(saved_groups, self.param_groups):
            options = {**self.defaults, **{k: v for k, v in saved_group.items() if k != "params"}}
            if self._lr_scheduler is not None:
                options.setdefault("lr_mult", 1.0)
            engine = self._check_group(options)[0]
            for saved_id, p in zip(saved_group["params"], group["params"]):
                if saved_id in saved_state:
                    restored.append((p, self._restored(p, saved_state[saved_id], engine, index)))
                index += 1
        extra = state_dict.get("adamant") or {}
        if not isinstance(extra, dict):
            raise AdamantError(f"the state dict's 'adamant' entry is {type(extra).__name__}, not a dict")
        num_update = max([int(s["step"]) for _, s in restored] + [_count(extra.get("num_update", 0), "num_update")])
        scalars = extra.get("scalars", self._scalars)
        if not isinstance(scalars, dict) or set(scalars) != set(self._scalars) or not all(
                isinstance(v, (int, float)) and math.isfinite(v) for v in scalars.values()):
            raise AdamantError(f"the saved scalars {scalars!r} are not this optimizer's {sorted(self._scalars)}")
        saved_scheduler = extra.get("lr_scheduler")
        if saved_scheduler is not None and self._lr_scheduler is not None:
            # Checked on a copy first.
            try:
                lr_scheduler.from_dict(self._lr_scheduler.to_dict()).restore_state(saved_scheduler["state"])
            except (TypeError, ValueError, OverflowError, KeyError) as e:
                raise AdamantError(f"the saved MXNet scheduler state cannot be restored: {e}") from e
        super().load_state_dict({k: v for k, v in state_dict.items() if k != "adamant"})
        # A state dict of torch.optim.Adam lacks adamant's options: they keep their defaults.
        for group in self.param_groups:
            for key, value in self.defaults.items():
                group.setdefault(key, value)
            if self._lr_scheduler is not None:
                group.setdefault("lr_mult", 1.0)
        for p, state in restored:
            self.state[p] = state
        self._num_update = num_update
        self._scalars = {k: float(v) for k, v in scalars.items()}
        if saved_scheduler is not None and self._lr_scheduler is not None:
            self._lr_scheduler.restore_state(saved_scheduler["state"])

    @staticmethod
    def _restored(p: torch.Tensor, saved: dict[str, Any], engine: _Engine, index: int) -> dict[str, Any]:
        """Parameter ``index``'s saved state as this optimizer keeps it, or an error."""
        where = f"parameter {index}"
        if not isinstance(saved, dict):
            raise AdamantError(f"{where}: its saved state is {type(saved).__name__}, not a dict")
        names, dtype = engine.layout(_DTYPES.get(p.dtype, "float32"))
        out: dict[str, Any] = {k: v for k, v in saved.items() if k not in names and _SAME_MOMENT.get(k) not in names}
        if "step" in saved:
            out["step"] = _fixed(np.array(_step_count(saved["step"], where), dtype=np.int64))
        elif any(k in saved or _SAME_MOMENT.get(k) in saved for k in names):
            raise AdamantError(f"{where}: its saved state has no 'step'")
        for key in names:
            source = key if key in saved else _SAME_MOMENT.get(key)
            if source not in saved:
                continue  # made when the state is completed (a master copy from the weight)
            value = saved[source]
            if not isinstance(value, torch.Tensor) or not value.is_floating_point() or value.numel() != p.numel():
                what = f"a tensor of {value.numel()} elements of {value.dtype}" if isinstance(value, torch.Tensor) \
                    else type(value).__name__
                raise AdamantError(f"{where}: saved {source!r} is {what}; {p.numel()} floating elements were expected")
            target = torch.float32 if key == _MASTER else _TORCH_DTYPES[dtype]
            out[key] = _fixed_like(p, target).copy_(value.reshape(p.shape))
        counting = "step" in out and int(out["step"]) > 0
        lacking = [k for k in names if k not in out and k not in (_MASTER, "max_exp_avg_sq")]
        if counting and lacking:
            raise AdamantError(f"{where}: its saved state counts {int(out['step'])} steps but has no {lacking}")
        return out


class Adam(_AdamFamily):
    """Adam as ``torch.optim.Adam`` computes it (``rule="torch"``, the default), or as MXNet
    does (``rule="mxnet"``), in one parallel Rust pass over all parameters.

    Arguments are ``torch.optim.Adam``'s (``foreach`` and ``fused`` are accepted and change
    nothing: the step is always fused; ``capturable`` and ``differentiable`` are refused;
    ``decoupled_weight_decay=True`` makes it AdamW), then adamant's: ``rule``, ``threads`` and
    MXNet's options (``rescale_grad``, ``clip_gradient``, ``lazy_update``, ``multi_precision``,
    ``wd_order``, ``half_math``, ``lr_scheduler``) under their MXNet names.
    """

    def __init__(self, params: Iterable[Any], lr: Any = None, betas: tuple[Any, Any] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0, amsgrad: bool = False, *, foreach: Optional[bool] = None,
                 maximize: bool = False, capturable: bool = False, differentiable: bool = False,
                 fused: Optional[bool] = None, decoupled_weight_decay: bool = False, rule: str = "torch",
                 rescale_grad: float = 1.0, clip_gradient: Optional[float] = None, lazy_update: bool = True,
                 multi_precision: bool = False, wd_order: Optional[str] = None, half_math: Optional[str] = None,
                 lr_scheduler: Optional[lr_scheduler.LRScheduler] = None, begin_num_update: int = 0,
                 threads: Optional[int] = None) -> None:
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, maximize=maximize, foreach=foreach,
                         capturable=capturable, differentiable=differentiable, fused=fused, rule=rule,
                         rescale_grad=rescale_grad, clip_gradient=clip_gradient, lazy_update=lazy_update,
                         multi_precision=multi_precision, wd_order=wd_order, half_math=half_math,
                         lr_scheduler=lr_scheduler, begin_num_update=begin_num_update, threads=threads,
                         extra={"decoupled_weight_decay": decoupled_weight_decay})


class AdamW(_AdamFamily):
    """AdamW as ``torch.optim.AdamW`` computes it (``rule="torch"``, the default), or as MXNet
    2.0's ``AdamW`` does (``rule="mxnet"``: the bias-corrected rate as ``eta``, MXNet's
    ``correct_bias`` and ``adamw_kernel`` options).

    Arguments are ``torch.optim.AdamW``'s, then adamant's as for :class:`Adam`.
    """

    _registry_name = "adamw"

    def __init__(self, params: Iterable[Any], lr: Any = None, betas: tuple[Any, Any] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 1e-2, amsgrad: bool = False, *, maximize: bool = False,
                 foreach: Optional[bool] = None, capturable: bool = False, differentiable: bool = False,
                 fused: Optional[bool] = None, rule: str = "torch", rescale_grad: float = 1.0,
                 clip_gradient: Optional[float] = None, lazy_update: bool = True, multi_precision: bool = False,
                 correct_bias: bool = True, adamw_kernel: Optional[str] = None,
                 lr_scheduler: Optional[lr_scheduler.LRScheduler] = None, begin_num_update: int = 0,
                 threads: Optional[int] = None) -> None:
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, maximize=maximize, foreach=foreach,
                         capturable=capturable, differentiable=differentiable, fused=fused, rule=rule,
                         rescale_grad=rescale_grad, clip_gradient=clip_gradient, lazy_update=lazy_update,
                         multi_precision=multi_precision, wd_order=None, half_math=None, lr_scheduler=lr_scheduler,
                         begin_num_update=begin_num_update, threads=threads,
                         extra={"correct_bias": correct_bias, "adamw_kernel": adamw_kernel})

    def _extra_config(self, group: dict[str, Any]) -> dict[str, Any]:
        # Passed under either rule: PyTorch's refuses them set away from their defaults.
        return {**super()._extra_config(group), "correct_bias": bool(group["correct_bias"]),
                "adamw_kernel": group["adamw_kernel"]}


class _MxnetFamily(_AdamFamily):
    """The members of the family that only MXNet defines here (MXNet's formulas; no
    ``rule="torch"``)."""

    def __init__(self, params: Iterable[Any], lr: Any, betas: tuple[Any, Any], eps: float, weight_decay: float,
                 *, rule: str, formula: str, rescale_grad: float, clip_gradient: Optional[float], lazy_update: bool,
                 multi_precision: bool, half_math: Optional[str], lr_scheduler: Optional[lr_scheduler.LRScheduler],
                 begin_num_update: int, threads: Optional[int], extra: dict[str, Any]) -> None:
        if rule != "mxnet":
            raise AdamantError(f"rule={rule!r}: {type(self).__name__} is MXNet's here; only rule='mxnet'")
        super().__init__(params, lr, betas, eps, weight_decay, False, maximize=False, foreach=None, capturable=False,
                         differentiable=False, fused=None, rule=rule, rescale_grad=rescale_grad,
                         clip_gradient=clip_gradient, lazy_update=lazy_update, multi_precision=multi_precision,
                         wd_order=None, half_math=half_math, lr_scheduler=lr_scheduler,
                         begin_num_update=begin_num_update, threads=threads, extra={"formula": formula, **extra})

    def _extra_config(self, group: dict[str, Any]) -> dict[str, Any]:
        return {"formula": group["formula"], "lazy_update": bool(group["lazy_update"])}


class Adamax(_MxnetFamily):
    """MXNet's Adamax (Adam with the infinity norm), bit for bit, with MXNet 2.0's formula
    (``formula="2.0"``, the default) or 1.x's (``"1.x"``: no epsilon, weight decay before
    clipping). States ``mean`` and ``var`` (the running maximum). Defaults are MXNet's
    (``lr=0.002``); ``weight_decay`` is MXNet's ``wd`` (coupled, added to the gradient). This is
    not ``torch.optim.Adamax``'s arithmetic.

    ``m = beta1 * m + (1 - beta1) * g``; ``u = max(beta2 * u, |g|)``;
    ``w -= lr / (1 - beta1^t) * m / (u + eps)``.
    """

    _registry_name = "adamax"

    def __init__(self, params: Iterable[Any], lr: Any = None, betas: tuple[Any, Any] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0, *, rule: str = "mxnet", formula: str = "2.0",
                 rescale_grad: float = 1.0, clip_gradient: Optional[float] = None, lazy_update: bool = True,
                 multi_precision: bool = False, half_math: Optional[str] = None,
                 lr_scheduler: Optional[lr_scheduler.LRScheduler] = None, begin_num_update: int = 0,
                 threads: Optional[int] = None) -> None:
        lr = 0.002 if lr is None and lr_scheduler is None else lr
        super().__init__(params, lr, betas, eps, weight_decay, rule=rule, formula=formula, rescale_grad=rescale_grad,
                         clip_gradient=clip_gradient, lazy_update=lazy_update, multi_precision=multi_precision,
                         half_math=half_math, lr_scheduler=lr_scheduler, begin_num_update=begin_num_update,
                         threads=threads, extra={})


class Nadam(_MxnetFamily):
    """MXNet's Nadam, bit for bit, with MXNet 2.0's formula (the default) or 1.x's. This is
    MXNet's Nadam with its momentum schedule (``schedule_decay``), **not**
    ``torch.optim.NAdam``: the schedule ``m_schedule`` is one number for the whole optimizer,
    advanced by every parameter's update in order, saved in ``state_dict()["adamant"]``. So its
    groups may differ in ``lr`` and ``weight_decay`` only, and it refuses to run under
    ``torch.distributed`` (a process holding some parameters cannot reproduce it).
    """

    _registry_name = "nadam"

    def __init__(self, params: Iterable[Any], lr: Any = None, betas: tuple[Any, Any] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0, *, schedule_decay: float = 0.004, rule: str = "mxnet",
                 formula: str = "2.0", rescale_grad: float = 1.0, clip_gradient: Optional[float] = None,
                 lazy_update: bool = True, multi_precision: bool = False, half_math: Optional[str] = None,
                 lr_scheduler: Optional[lr_scheduler.LRScheduler] = None, begin_num_update: int = 0,
                 threads: Optional[int] = None) -> None:
        super().__init__(params, lr, betas, eps, weight_decay, rule=rule, formula=formula, rescale_grad=rescale_grad,
                         clip_gradient=clip_gradient, lazy_update=lazy_update, multi_precision=multi_precision,
                         half_math=half_math, lr_scheduler=lr_scheduler, begin_num_update=begin_num_update,
                         threads=threads, extra={"schedule_decay": schedule_decay})

    def _extra_config(self, group: dict[str, Any]) -> dict[str, Any]:
        return {**super()._extra_config(group), "schedule_decay": _number(group["schedule_decay"], "schedule_decay")}


class LAMB(_MxnetFamily):
    """MXNet's LAMB, bit for bit: its multi-tensor kernel (``lamb_kernel="multi"``, the default)
    or its phase operators (``"phase"``), MXNet 2.0's formula or 1.x's. Per tensor: Adam's
    direction ``d = m^ / (sqrt(v^) + eps) + weight_decay * w``, then the trust ratio
    ``r = clamp(||w||, lower_bound, upper_bound) / ||d||`` (1 where a norm is 0) and
    ``w -= lr * r * d``. The norms are sums in element order: the same bits for every thread
    count. Dense gradients only; float16 and bfloat16 parameters need ``multi_precision``.
    """

    _registry_name = "lamb"

    def __init__(self, params: Iterable[Any], lr: Any = None, betas: tuple[Any, Any] = (0.9, 0.999),
                 eps: float = 1e-6, weight_decay: float = 0, *, lower_bound: Optional[float] = None,
                 upper_bound: Optional[float] = None, bias_correction: bool = True, lamb_kernel: str = "multi",
                 rule: str = "mxnet", formula: str = "2.0", rescale_grad: float = 1.0,
                 clip_gradient: Optional[float] = None, multi_precision: bool = False,
                 lr_scheduler: Optional[lr_scheduler.LRScheduler] = None, begin_num_update: int = 0,
                 threads: Optional[int] = None) -> None:
        super().__init__(params, lr, betas, eps, weight_decay, rule=rule, formula=formula, rescale_grad=rescale_grad,
                         clip_gradient=clip_gradient, lazy_update=False, multi_precision=multi_precision,
                         half_math=None, lr_scheduler=lr_scheduler, begin_num_update=begin_num_update,
                         threads=threads, extra={"lower_bound": lower_bound, "upper_bound": upper_bound,
                                                 "bias_correction": bias_correction, "lamb_kernel": lamb_kernel})

    def _extra_config(self, group: dict[str, Any]) -> dict[str, Any]:
        return {"formula": group["formula"], "lower_bound": group["lower_bound"],
                "upper_bound": group["upper_bound"], "bias_correction": bool(group["bias_correction"]),
                "lamb_kernel": group["lamb_kernel"]}


def clip_grad_norm_(parameters: Any, max_norm: float, *, process_group: Any = None,
                    error_if_nonfinite: bool = False) -> torch.Tensor:
    """``torch.nn.utils.clip_grad_norm_`` with a norm that is the same bits for every thread
    count (squares summed over fixed blocks in float32 partial sums for half and float32
    gradients, as PyTorch's float32 norm, the blocks added in float64 in order) and, with
    ``process_group``, global under torch.distributed: the squared norms of the processes'
    gradients are all-reduced (summed) before the square root, so every process clips by the
    same factor. Scales the gradients in place by ``max_norm / (norm + 1e-6)`` when that is
    below 1; returns the norm (a float64 tensor). A sparse gradient counts its coalesced values.
    The L2 norm only (PyTorch's ``norm_type=2``); there is no ``norm_type`` or ``foreach``.

    Raises :class:`adamant.AdamantError` for a ``max_norm`` that is NaN or not above 0, and when
    the norm is not finite and ``error_if_nonfinite`` (then nothing is scaled); otherwise such a
    step should be skipped (``torch.isfinite(norm)``), as ``torch.amp.GradScaler`` skips it.
    """
    max_norm = float(max_norm)
    if not max_norm > 0:
        raise AdamantError(f"max_norm={max_norm!r}: must be > 0 (inf leaves the gradients as they are)")
    params = [parameters] if isinstance(parameters, torch.Tensor) else list(parameters)
    grads = [p.grad for p in params if p.grad is not None]
    values = [g.coalesce()._values() if g.is_sparse else g for g in grads]
    total = torch.tensor(_sum_of_squares([v.detach() for v in values]), dtype=torch.float64)
    if process_group is not None:
        torch.distributed.all_reduce(total, group=process_group)
    norm = total.sqrt()
    if not math.isfinite(float(norm)):
        if error_if_nonfinite:
            raise AdamantError(f"the gradients' global norm is {float(norm)}")
        return norm
    factor = max_norm / (float(norm) + 1e-6)
    if factor < 1.0:
        for g in grads:
            g.mul_(factor)
    return norm
