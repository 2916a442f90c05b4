"""Every MXNet golden case replayed through the numpy API (``adamant.create`` and
``adamant.Updater``), bit for bit."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import adamant
from golden import cases, compare, config, decode, number, tolerance

MXNET = list(cases("mxnet"))


def replay(case: dict[str, Any], data: dict[str, Any]) -> None:
    name, cfg = config(case)
    updater = adamant.Updater(adamant.create(name, **cfg))
    weights = {p["index"]: decode(p["dtype"], p["weight"]).reshape(p["shape"]).copy() for p in case["params"]}
    dtypes = {p["index"]: p["dtype"] for p in case["params"]}
    for s, step in enumerate(case["steps"]):
        if "rescale_grad" in step:
            updater.set_rescale_grad(number(step["rescale_grad"]))
        for g in step["grads"]:
            index = g["index"]
            values = decode(dtypes[index], g["values"])
            if g["stype"] == "row_sparse":
                rows = np.array(g["row_indices"], dtype=np.int64)
                shape = weights[index].shape
                grad: Any = (rows, values.reshape((len(rows),) + tuple(shape[1:])))
            else:
                grad = values.reshape(weights[index].shape)
            updater.update([(index, weights[index], grad)])
        exact, expect = case["exact"], step["expect"]
        for w in expect["weights"]:
            i, dtype = w["index"], dtypes[w["index"]]
            compare(f"step {s} index {i} weight", weights[i], w["weight"], dtype, exact, tolerance(data, dtype))
        for st in expect["states"]:
            i = st["index"]
            arrays = updater.state(i)
            for key, bits in st.items():
                if key == "index":
                    continue
                if arrays is None:
                    got = np.zeros(weights[i].size, dtype=dtypes[i])
                    state_dtype = dtypes[i]
                else:
                    got = arrays[key]
                    state_dtype = str(got.dtype)
                compare(f"step {s} index {i} {key}", got, bits, state_dtype, exact, tolerance(data, state_dtype))
        assert updater.num_update == expect["num_update"], f"step {s}: num_update"


@pytest.mark.parametrize("case_id,case,data", MXNET, ids=[c[0] for c in MXNET])
def test_mxnet_golden_case_through_numpy(case_id: str, case: dict[str, Any], data: dict[str, Any]) -> None:
    replay(case, data)


def test_every_golden_file_is_replayed() -> None:
    # A file that fails to parse or has no cases would shrink the replay silently.
    assert len(MXNET) >= 243 - 13, len(MXNET)
