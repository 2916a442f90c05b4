"""The golden vectors (``crates/adamant/tests/golden``, or ``$ADAMANT_GOLDEN_DIR``) as Python
values: files, cases, bit patterns as numpy arrays, and the comparison the Rust harness makes
(bitwise for exact cases, NaN equal to NaN; the file's tolerance per dtype otherwise)."""

from __future__ import annotations

import gzip
import json
import math
import os
from pathlib import Path
from typing import Any, Iterator

import numpy as np

ROOT = Path(__file__).resolve().parents[3] / "crates" / "adamant" / "tests" / "golden"
# Families a later piece of work adds; their cases are pending, never run as passed.
PENDING: tuple[str, ...] = ()
BITS = {"float16": np.uint16, "float32": np.uint32, "float64": np.uint64}
FLOATS = {"float16": np.float16, "float32": np.float32, "float64": np.float64}


def files(kind: str) -> list[Path]:
    """The golden files of ``kind`` (``mxnet`` or ``torch``)."""
    base = Path(os.environ["ADAMANT_GOLDEN_DIR"]) if "ADAMANT_GOLDEN_DIR" in os.environ else ROOT / kind
    found = sorted(p for p in base.iterdir() if p.name.endswith((".json", ".json.gz")))
    assert found, f"no golden files in {base}"
    return found


def read(path: Path) -> dict[str, Any]:
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rt") as f:
        return json.load(f)


def cases(kind: str, *, optimizer_cases: bool = True) -> Iterator[tuple[str, dict[str, Any], dict[str, Any]]]:
    """``(id, case, file)`` for every case of every file of ``kind`` that is not pending (with
    ``optimizer_cases``, the cases that drive an optimizer rather than a scheduler table)."""
    for path in files(kind):
        data = read(path)
        if data.get("family") in PENDING:
            continue
        for case in data["cases"]:
            if optimizer_cases and "scheduler" in case:
                continue
            yield case["id"], case, data


def decode(dtype: str, bits: list[int]) -> np.ndarray:
    return np.array(bits, dtype=BITS[dtype]).view(FLOATS[dtype])


def number(value: Any) -> float:
    if isinstance(value, str):
        return {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}[value]
    return float(value)


def config(case: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The registry name and configuration of a case: its optimizer object plus the options its
    ``semantics`` name; schedulers keep MXNet's value past ``max_update`` as the recordings do."""
    cfg = dict(case["optimizer"])
    name = cfg.pop("name")
    for key, value in case.get("semantics", {}).items():
        if value != "any":
            cfg[key] = value
    sched = cfg.get("lr_scheduler")
    if sched and sched.get("type", "").lower() in ("poly", "cosine"):
        cfg["lr_scheduler"] = {**sched, "past_max_update": "keep_last"}
    return name, cfg


def tolerance(data: dict[str, Any], dtype: str) -> tuple[float, float]:
    t = data.get("tolerance")
    if t is None:
        return (1e-6, 1e-5) if dtype == "float32" else (0.0, 0.0)
    return float(t[dtype]["atol"]), float(t[dtype]["rtol"])


def compare(what: str, got: np.ndarray, want_bits: list[int], dtype: str, exact: bool, tol: tuple[float, float]) -> None:
    """Raises ``AssertionError`` naming the first element of ``got`` that differs."""
    got = np.ascontiguousarray(got, dtype=FLOATS[dtype]).reshape(-1)
    want = decode(dtype, want_bits)
    assert got.size == want.size, f"{what}: {got.size} elements, the case has {want.size}"
    both_nan = np.isnan(got) & np.isnan(want)
    if exact:
        same = (got.view(BITS[dtype]) == want.view(BITS[dtype])) | both_nan
    else:
        atol, rtol = tol
        diff = np.abs(got.astype(np.float64) - want.astype(np.float64))
        same = (diff <= atol + rtol * np.abs(want.astype(np.float64))) | both_nan
    if not same.all():
        i = int(np.argmin(same))
        raise AssertionError(f"{what}: first difference at element {i}: got {got[i]!r}, the case has {want[i]!r}")
