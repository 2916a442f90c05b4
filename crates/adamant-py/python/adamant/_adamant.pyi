"""Type stubs of the Rust extension ``adamant._adamant``. Users reach it through ``adamant``
(``create``, ``Updater``), ``adamant.torch`` and ``adamant.lr_scheduler``."""

from typing import Any, Optional, Sequence, Tuple, Union

import numpy as np

OPTIMIZERS: list[str]
"""The registry's optimizer names (``"adam"``, ``"adamw"``, ``"adamax"``, ``"nadam"``, ``"lamb"``)."""

class AdamantError(ValueError):
    """A value adamant refuses: a hyper-parameter, a tensor, a state or a state file. The
    message names the parameter and the value; nothing has changed."""

class Optimizer:
    """An optimizer of the registry configured from JSON with MXNet's names; ``threads`` > 0
    gives it a thread pool of its own (0: the caller's).

    Raises :class:`AdamantError` for an unknown name or option, or a value out of range."""

    def __init__(self, name: str, config_json: str, threads: int = 0) -> None: ...
    @property
    def name(self) -> str: ...
    def config_json(self) -> str:
        """The configuration as a JSON object, every option included."""
    def layout(self, dtype: str) -> Tuple[list[str], str]:
        """``(names, dtype)``: the state arrays kept for a weight of ``dtype`` (``"float16"``,
        ``"bfloat16"``, ``"float32"``, ``"float64"``) and the dtype of all but ``weight32``."""
    def set_threads(self, threads: int) -> None: ...
    def scalars(self) -> list[Tuple[str, float]]:
        """The scalars it keeps across steps (Nadam's ``m_schedule``)."""
    def restore_scalars(self, scalars: list[Tuple[str, float]]) -> None: ...
    def set_rescale_grad(self, rescale_grad: float) -> None: ...

def torch_step(
    buckets: list[Tuple[Optimizer, float, list[Tuple[list[Any], float, float, int]]]],
    state: dict[Any, dict[str, Any]],
    scheduler: Optional["LrScheduler"] = None,
    num_update: int = 0,
) -> Tuple[list[Any], int]:
    """One step of PyTorch parameters as one transaction: ``buckets`` are ``(optimizer,
    rescale_grad, groups)``, one per configuration, each group ``(params, lr, weight_decay,
    first_index)``. Returns the parameters whose state is missing (nothing stepped) or ``[]``,
    and the largest update count. Used by :mod:`adamant.torch`."""

def sum_of_squares(tensors: list[Any]) -> float:
    """The float64 sum of squares of dense CPU tensors, in fixed blocks and order."""

_Grad = Union[np.ndarray, Tuple[np.ndarray, np.ndarray]]

class Updater:
    """An optimizer with the state of every parameter it has stepped (MXNet's ``Updater``)."""

    def __init__(self, optimizer: Optimizer) -> None:
        """A fresh updater (no state, no counts) running a copy of ``optimizer`` as it is now:
        its configuration, the scalars it keeps (Nadam's ``m_schedule``) and its thread count.
        Later changes to ``optimizer`` do not reach it."""
    def set_threads(self, threads: int) -> None:
        """Runs steps on ``threads`` threads of its own (1 to 1024), or with 0 on the caller's
        pool. Raises :class:`AdamantError` above 1024."""
    def update(self, batch: Sequence[Tuple[int, np.ndarray, _Grad]]) -> None:
        """Steps ``[(index, weight, grad), ...]`` in place: C-contiguous float16, float32 or
        float64 arrays, the gradient of the weight's shape and dtype, or row-sparse as
        ``(row_ids, values)`` (int64 ids, ``values`` of shape ``[len(row_ids), *weight.shape[1:]]``).

        Raises :class:`AdamantError` naming the index and value at fault; then nothing changed."""
    def step(self, batch: Sequence[Tuple[int, np.ndarray, _Grad]], clip_global_norm: Optional[float] = None,
             skip_non_finite: bool = False) -> Tuple[float, float, bool]:
        """``update`` with the gradients clipped by their global L2 norm (PyTorch's formula,
        folded into ``rescale_grad`` for this step) and the step skipped, changing nothing, when
        a gradient is not finite. Returns ``(global_norm, factor, skipped)``."""
    @property
    def num_update(self) -> int:
        """The largest update count of any parameter (MXNet's ``num_update``)."""
    @property
    def learning_rate(self) -> float:
        """The rate in force: the scheduler's at ``num_update``, or the fixed rate."""
    def set_learning_rate(self, lr: float) -> None: ...
    def set_rescale_grad(self, rescale_grad: float) -> None: ...
    def state(self, index: int) -> Optional[dict[str, np.ndarray]]:
        """Parameter ``index``'s state arrays (copies; bfloat16 as float32), or ``None``."""
    def save(self, path: str) -> None:
        """Writes the whole state to ``path`` (safetensors + JSON), atomically."""
    @staticmethod
    def load(path: str) -> "Updater":
        """An updater resumed from ``path``; a damaged or foreign file raises
        :class:`AdamantError`."""
    def config_json(self) -> str: ...

class LrScheduler:
    """One of MXNet's schedulers from its JSON form; see :mod:`adamant.lr_scheduler`."""

    def __init__(self, json: str) -> None: ...
    def __call__(self, num_update: int) -> float: ...
    def to_json(self) -> str: ...
    def state(self) -> Tuple[float, int, int]: ...
    def restore_state(self, state: Tuple[float, int, int]) -> None: ...
