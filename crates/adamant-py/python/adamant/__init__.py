"""adamant: MXNet's Adam optimizers, bit for bit, at the memory-bandwidth limit of the CPU.

The numpy API follows MXNet's (``mx.optimizer.create`` and ``get_updater``)::

    import numpy as np, adamant
    updater = adamant.Updater(adamant.create("adam", learning_rate=0.01, wd=1e-4))
    w, g = np.ones(4, np.float32), np.full(4, 0.5, np.float32)
    updater.update([(0, w, g)])          # w changes in place

PyTorch's optimizers are in :mod:`adamant.torch` (``adamant.torch.Adam`` and ``AdamW``, and
MXNet's ``Adamax``, ``Nadam`` and ``LAMB``).
Every error is an :class:`AdamantError` (a ``ValueError``) that names the parameter and the
value at fault; after an error nothing has changed.
"""

from __future__ import annotations

import json
import math
from typing import Any

from . import lr_scheduler
from ._adamant import OPTIMIZERS, AdamantError, Updater
from ._adamant import Optimizer as _Optimizer

__all__ = ["AdamantError", "OPTIMIZERS", "Optimizer", "Updater", "create", "lr_scheduler"]
__version__ = "0.1.0"

Optimizer = _Optimizer


def _jsonable(value: Any) -> Any:
    """``value`` as JSON the library reads: schedulers as their dicts, NaN and infinities as
    the strings ``"NaN"``, ``"Infinity"``, ``"-Infinity"``, tuples as lists."""
    if isinstance(value, lr_scheduler.LRScheduler):
        return value.to_dict()
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def config_json(hyper: dict[str, Any]) -> str:
    """Hyper-parameters (MXNet's names) as the JSON object the library reads."""
    return json.dumps(_jsonable(hyper))


def create(name: str, *, threads: int = 0, **hyper: Any) -> Optimizer:
    """The registry's optimizer ``name`` (``"adam"``, ``"adamw"``, ``"adamax"``, ``"nadam"``,
    ``"lamb"``) with MXNet's argument names and defaults as keywords, e.g.
    ``create("adam", learning_rate=0.01, wd=1e-4, clip_gradient=1.0,
    lr_scheduler=adamant.lr_scheduler.CosineScheduler(1000))``. ``threads`` > 0 gives it a
    thread pool of its own.

    Raises :class:`AdamantError` for an unknown name or a value it refuses (the message names
    it, and suggests ours for another library's names such as ``lr``).
    """
    return _Optimizer(name, config_json(hyper), threads)
