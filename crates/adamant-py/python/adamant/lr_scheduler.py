"""MXNet's learning-rate schedulers, with MXNet's classes, argument names and defaults.

Like MXNet's, they are stateful: ``FactorScheduler`` and ``MultiFactorScheduler`` decay their
base rate in place as ``num_update`` passes their steps. Call one with the update count::

    from adamant.lr_scheduler import CosineScheduler
    sched = CosineScheduler(max_update=1000, base_lr=0.01, final_lr=1e-4)
    sched(500)   # 0.00505

Pass one to ``adamant.create(..., lr_scheduler=sched)`` or ``adamant.torch.Adam(...,
rule="mxnet", lr_scheduler=sched)``. Past ``max_update`` Poly and Cosine give their final rate
(``past_max_update="keep_last"`` keeps MXNet's behaviour, which depends on the call history).
"""

from __future__ import annotations

from typing import Any, Sequence

from ._adamant import LrScheduler as _LrScheduler

__all__ = ["LRScheduler", "FactorScheduler", "MultiFactorScheduler", "PolyScheduler", "CosineScheduler", "from_dict"]


class LRScheduler:
    """A scheduler: its MXNet type and arguments, evaluated by the Rust library."""

    _type = ""

    def __init__(self, **args: Any) -> None:
        self._args = {k: v for k, v in args.items() if v is not None}
        from . import config_json

        self._scheduler = _LrScheduler(config_json(self.to_dict()))

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (``{"type": ..., MXNet's arguments}``)."""
        return {"type": self._type, **self._args}

    @property
    def base_lr(self) -> float:
        """The starting rate."""
        return float(self._args.get("base_lr", 0.01))

    def __call__(self, num_update: int) -> float:
        """The rate at update ``num_update`` (call with non-decreasing counts)."""
        return self._scheduler(num_update)

    def with_base_lr(self, base_lr: float) -> "LRScheduler":
        """The same schedule, fresh, from ``base_lr`` (what an explicit learning rate does)."""
        return from_dict({**self.to_dict(), "base_lr": base_lr})

    def state(self) -> tuple[float, int, int]:
        """The mutable state ``(base_lr, count, cur_step_ind)``, for checkpoints."""
        return self._scheduler.state()

    def restore_state(self, state: Sequence[float]) -> None:
        """Puts back a state taken by :meth:`state` (a list, as a saved state dict holds it)."""
        try:
            base_lr, count, cur_step_ind = state
            restored = (float(base_lr), int(count), int(cur_step_ind))
        except (TypeError, ValueError, OverflowError) as e:
            from . import AdamantError

            raise AdamantError(f"scheduler state {state!r}: give (base_lr, count, cur_step_ind) ({e})") from e
        self._scheduler.restore_state(restored)

    def __reduce__(self) -> tuple[Any, ...]:
        # Pickled (and deep-copied) as its schedule and its state.
        return (_restored, (self.to_dict(), self.state()))

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self._args.items())
        return f"{type(self).__name__}({args})"


class FactorScheduler(LRScheduler):
    """Multiplies the rate by ``factor`` every ``step`` updates, down to ``stop_factor_lr``."""

    _type = "factor"

    def __init__(self, step: int, factor: float = 1, stop_factor_lr: float = 1e-8, base_lr: float = 0.01,
                 warmup_steps: int = 0, warmup_begin_lr: float = 0, warmup_mode: str = "linear") -> None:
        super().__init__(step=step, factor=factor, stop_factor_lr=stop_factor_lr, base_lr=base_lr,
                         warmup_steps=warmup_steps, warmup_begin_lr=warmup_begin_lr, warmup_mode=warmup_mode)


class MultiFactorScheduler(LRScheduler):
    """Multiplies the rate by ``factor`` after each update listed in ``step``."""

    _type = "multifactor"

    def __init__(self, step: list[int], factor: float = 1, base_lr: float = 0.01, warmup_steps: int = 0,
                 warmup_begin_lr: float = 0, warmup_mode: str = "linear") -> None:
        super().__init__(step=list(step), factor=factor, base_lr=base_lr, warmup_steps=warmup_steps,
                         warmup_begin_lr=warmup_begin_lr, warmup_mode=warmup_mode)


class PolyScheduler(LRScheduler):
    """From ``base_lr`` to ``final_lr`` along ``(1 - t / max_update) ** pwr``."""

    _type = "poly"

    def __init__(self, max_update: int, base_lr: float = 0.01, pwr: float = 2, final_lr: float = 0,
                 warmup_steps: int = 0, warmup_begin_lr: float = 0, warmup_mode: str = "linear",
                 past_max_update: str | None = None) -> None:
        super().__init__(max_update=max_update, base_lr=base_lr, pwr=pwr, final_lr=final_lr,
                         warmup_steps=warmup_steps, warmup_begin_lr=warmup_begin_lr, warmup_mode=warmup_mode,
                         past_max_update=past_max_update)


class CosineScheduler(LRScheduler):
    """From ``base_lr`` to ``final_lr`` along half a cosine over ``max_update`` updates."""

    _type = "cosine"

    def __init__(self, max_update: int, base_lr: float = 0.01, final_lr: float = 0, warmup_steps: int = 0,
                 warmup_begin_lr: float = 0, warmup_mode: str = "linear", past_max_update: str | None = None) -> None:
        super().__init__(max_update=max_update, base_lr=base_lr, final_lr=final_lr, warmup_steps=warmup_steps,
                         warmup_begin_lr=warmup_begin_lr, warmup_mode=warmup_mode, past_max_update=past_max_update)


_TYPES: dict[str, type[LRScheduler]] = {
    "factor": FactorScheduler,
    "multifactor": MultiFactorScheduler,
    "poly": PolyScheduler,
    "cosine": CosineScheduler,
}


def from_dict(d: dict[str, Any]) -> LRScheduler:
    """The scheduler of a JSON form (``{"type": "cosine", "max_update": 1000, ...}``)."""
    args = dict(d)
    kind = str(args.pop("type", "")).lower()
    if kind not in _TYPES:
        from . import AdamantError

        raise AdamantError(f"lr_scheduler type {kind!r}: must be factor, multifactor, poly or cosine")
    return _TYPES[kind](**args)


def _restored(schedule: dict[str, Any], state: tuple[float, int, int]) -> LRScheduler:
    """A scheduler from its pickled form."""
    scheduler = from_dict(schedule)
    scheduler.restore_state(state)
    return scheduler
