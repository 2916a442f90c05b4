"""The numpy API: ``adamant.create``, ``adamant.Updater`` (in place, dense and row-sparse,
save and load) and the MXNet schedulers of ``adamant.lr_scheduler``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

import adamant
from adamant import lr_scheduler
from golden import files, read


def batch(step: int, weights: list[np.ndarray]) -> list[tuple[int, np.ndarray, Any]]:
    """A dense gradient for weight 0, a row-sparse one (rows 3, 1, 3) for weight 1."""
    g0 = np.linspace(-1, 1, weights[0].size, dtype=np.float32).reshape(weights[0].shape) * (step + 1)
    rows = np.array([3, 1, 3], dtype=np.int64)
    values = np.full((3, weights[1].shape[1]), 0.25 * (step + 1), dtype=np.float32)
    return [(0, weights[0], g0), (1, weights[1], (rows, values))]


def fresh() -> list[np.ndarray]:
    return [np.ones((4, 5), np.float32), np.ones((6, 2), np.float32)]


def test_the_registry_and_mxnets_names() -> None:
    assert {"adam", "adamw"} <= set(adamant.OPTIMIZERS)
    opt = adamant.create("adam", learning_rate=0.01, wd=1e-4, lr_scheduler=lr_scheduler.FactorScheduler(step=10))
    assert '"wd":0.0001' in opt.config_json().replace(" ", "")


def test_weights_change_in_place_and_a_lazy_row_sparse_step_touches_only_its_rows() -> None:
    weights = fresh()
    updater = adamant.Updater(adamant.create("adam", learning_rate=0.1, lazy_update=True))
    updater.update(batch(0, weights))
    assert (weights[0] != 1).any()
    changed = np.flatnonzero((weights[1] != 1).any(axis=1))
    assert changed.tolist() == [1, 3]
    assert updater.num_update == 1
    assert set(updater.state(1)) == {"mean", "var"}


@pytest.mark.parametrize("hyper,says", [
    (dict(beta1=1.5), "beta1.*1.5"),
    (dict(epsilon=-1.0), "epsilon.*-1"),
    (dict(lr=0.1), "learning_rate"),
    (dict(learning_rate=float("nan")), "learning_rate.*NaN"),
])
def test_a_bad_hyper_parameter_is_named_with_its_value(hyper: dict[str, Any], says: str) -> None:
    with pytest.raises(adamant.AdamantError, match=says):
        adamant.create("adam", **hyper)


def test_a_bad_entry_refuses_the_whole_batch_and_nothing_changes() -> None:
    weights = fresh()
    updater = adamant.Updater(adamant.create("adam", learning_rate=0.1))
    updater.update(batch(0, weights))
    before = [w.copy() for w in weights]
    states = [updater.state(i) for i in range(2)]
    good = batch(1, weights)
    bad_grads = [
        (np.ones((5, 4), np.float32), r"shape|\[5, 4\]"),
        (np.ones((4, 5), np.float64), "float64"),
        (np.ones((4, 10), np.float32)[:, ::2], "contiguous"),
    ]
    for grad, says in bad_grads:
        with pytest.raises(adamant.AdamantError, match=says):
            updater.update([good[1], (0, weights[0], grad)])
        with pytest.raises(adamant.AdamantError, match="row"):
            updater.update([good[0], (1, weights[1], (np.array([6], np.int64), np.ones((1, 2), np.float32)))])
        for w, b in zip(weights, before):
            assert np.array_equal(w, b)
        for i, s in enumerate(states):
            now = updater.state(i)
            assert all(np.array_equal(now[k], s[k]) for k in s)
        assert updater.num_update == 1


def test_a_saved_updater_resumes_bit_for_bit(tmp_path: Path) -> None:
    config = dict(learning_rate=0.05, wd=1e-3, lr_scheduler=lr_scheduler.CosineScheduler(max_update=8, base_lr=0.05))
    straight, resumed = fresh(), fresh()
    a = adamant.Updater(adamant.create("adam", **config))
    b = adamant.Updater(adamant.create("adam", **config))
    for step in range(3):
        a.update(batch(step, straight))
        b.update(batch(step, resumed))
    b.save(str(tmp_path / "state.safetensors"))
    b = adamant.Updater.load(str(tmp_path / "state.safetensors"))
    for step in range(3, 8):
        a.update(batch(step, straight))
        b.update(batch(step, resumed))
    for x, y in zip(straight, resumed):
        assert np.array_equal(x.view(np.uint32), y.view(np.uint32))
    assert b.num_update == 8 and b.learning_rate == a.learning_rate


def test_a_damaged_state_file_is_an_error_not_a_crash(tmp_path: Path) -> None:
    updater = adamant.Updater(adamant.create("adam"))
    updater.update(batch(0, fresh()))
    path = tmp_path / "state.safetensors"
    updater.save(str(path))
    data = path.read_bytes()
    for cut in (0, 8, len(data) // 2, len(data) - 1):
        path.write_bytes(data[:cut])
        with pytest.raises(adamant.AdamantError):
            adamant.Updater.load(str(path))


def scheduler_cases() -> list[dict[str, Any]]:
    [path] = [p for p in files("mxnet") if p.name.startswith("scheduler_tables")]
    return read(path)["cases"]


@pytest.mark.parametrize("case", scheduler_cases(), ids=lambda c: c["id"])
def test_mxnet_scheduler_tables_through_the_python_classes(case: dict[str, Any]) -> None:
    spec = dict(case["scheduler"])
    if spec["type"] in ("poly", "cosine"):
        spec["past_max_update"] = "keep_last"  # MXNet's, which the tables recorded
    sched = lr_scheduler.from_dict(spec)
    assert type(sched).__name__.lower().startswith(spec["type"])
    for call in case["calls"]:
        assert sched(call["num_update"]) == call["lr"], f"at num_update {call['num_update']}"


def test_arrays_in_the_other_byte_order_are_refused() -> None:
    updater = adamant.Updater(adamant.create("adam"))
    w = np.ones(4, ">f4")
    with pytest.raises(adamant.AdamantError, match="byte order"):
        updater.update([(0, w, np.ones(4, ">f4"))])
    assert (w == 1).all()
    rows = np.array([1], ">i8")
    with pytest.raises(adamant.AdamantError, match="int64"):
        updater.update([(0, np.ones((3, 2), np.float32), (rows, np.ones((1, 2), np.float32)))])


def test_a_scheduler_argument_that_is_nan_is_named() -> None:
    with pytest.raises(adamant.AdamantError, match="factor"):
        lr_scheduler.FactorScheduler(10, factor=float("nan"))


def test_a_step_clips_by_the_global_norm_and_skips_non_finite_gradients() -> None:
    updater = adamant.Updater(adamant.create("adam", learning_rate=0.1))
    w = np.zeros(2, np.float32)
    norm, factor, skipped = updater.step([(0, w, np.array([3.0, np.inf], np.float32))], skip_non_finite=True)
    assert skipped and updater.num_update == 0 and (w == 0).all() and updater.state(0) is None
    norm, factor, skipped = updater.step([(0, w, np.array([3.0, 4.0], np.float32))], clip_global_norm=1.0)
    assert (norm, skipped) == (5.0, False) and abs(factor - 1.0 / (5.0 + 1e-6)) < 1e-15
    assert updater.num_update == 1 and (w < 0).all()


def test_an_updater_runs_a_copy_of_the_optimizers_scalars() -> None:
    # Nadam's m_schedule is a scalar the optimizer keeps: an Updater made after it changed
    # steps from it, not from a fresh schedule.
    def first_step(scalars: list[tuple[str, float]]) -> np.ndarray:
        opt = adamant.create("nadam", learning_rate=0.1)
        opt.restore_scalars(scalars)
        weights = fresh()
        adamant.Updater(opt).update(batch(0, weights)[:1])
        return weights[0]

    fresh_schedule = first_step([("m_schedule", 1.0)])
    assert not np.array_equal(first_step([("m_schedule", 0.5)]), fresh_schedule)
    opt = adamant.create("nadam", learning_rate=0.1)
    updater = adamant.Updater(opt)
    opt.restore_scalars([("m_schedule", 0.5)])  # after the copy: does not reach the updater
    weights = fresh()
    updater.update(batch(0, weights)[:1])
    assert np.array_equal(weights[0], fresh_schedule)


def _threads_of_this_process() -> int:
    """The process's thread count once it stops changing (pools dropped by earlier tests end
    their threads asynchronously)."""
    import os
    import time

    counts: list[int] = []
    while len(counts) < 3 or len(set(counts[-3:])) != 1:
        counts.append(len(os.listdir("/proc/self/task")))
        time.sleep(0.02)
    return counts[-1]


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="counts threads in /proc (Linux)")
def test_an_updater_keeps_the_optimizers_thread_count_and_can_change_it() -> None:
    opt = adamant.create("adam", threads=3)
    before = _threads_of_this_process()
    updater = adamant.Updater(opt)
    assert _threads_of_this_process() - before == 3  # a pool of its own, as the optimizer's
    updater.set_threads(2)
    assert _threads_of_this_process() - before == 2
    weights = fresh()
    updater.update(batch(0, weights))
    assert (weights[0] != 1).any()
    for bad in (5000, -1):
        with pytest.raises(adamant.AdamantError, match="threads"):
            updater.set_threads(bad)
        with pytest.raises(adamant.AdamantError, match="threads"):
            opt.set_threads(bad)
    with pytest.raises(adamant.AdamantError, match="threads"):
        adamant.create("adam", threads=-2)
