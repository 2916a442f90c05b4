"""``python -m adamant.bench``: adamant.torch.Adam against PyTorch's and DeepSpeed's CPU Adam,
timed in one process, step by step in turn on the same tensors.

Every implementation steps the same parameters with the same gradients (each keeps its own
state); a step's time is ``optimizer.step()`` alone, with a fresh ``.grad`` object set before
it, as after ``zero_grad(set_to_none=True)`` and a backward pass (the embedding's lists 4,096
new random ids each step, uncoalesced). The implementations take turns step by step, each step
starting with the next one, so each follows every other equally often. Figures are medians
over the timed steps. Peers: ``torch.optim.Adam(fused=True)``, ``torch.optim.Adam(foreach=True)``,
``torch.optim.SparseAdam`` (the embedding scenario) and DeepSpeed's ``DeepSpeedCPUAdam`` when it
can be imported. ``--json`` prints a list of objects with ``scenario``, ``impl``, ``median_ms``,
``min_ms``, ``max_ms``, ``steps``, ``elements``, ``tensors``, ``dtype``, ``threads`` and ``cpu``;
adamant's also carry ``per_param_us``, its step time divided by the number of tensors (on
``100000x1`` that is the per-parameter overhead: the arithmetic is negligible).

Example::

    python -m adamant.bench --threads 2 --scenario 16Mx256 --json
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import statistics
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

IMPLS = ("adamant", "torch-fused", "torch-foreach", "torch-sparseadam", "deepspeed-cpuadam")


@dataclass
class Scenario:
    """Parameters of ``shapes`` and ``dtype``; ``rows_per_step`` > 0 makes it an embedding
    table stepped with sparse gradients of that many (random, repeating) ids."""

    name: str
    shapes: list[tuple[int, ...]]
    dtype: str = "float32"
    rows_per_step: int = 0
    note: str = ""
    elements: int = field(init=False)

    def __post_init__(self) -> None:
        self.elements = sum(_numel(s) for s in self.shapes)


def _numel(shape: tuple[int, ...]) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


SCENARIOS = [
    Scenario("64Mx1", [(64 << 20,)]),
    Scenario("16Mx256", [(1 << 16,)] * 256, note="16M elements in 256 tensors"),
    Scenario("4096x4096", [(4096, 4096)]),
    Scenario("100000x100", [(100,)] * 100_000),
    Scenario("100000x1", [(1,)] * 100_000, note="per-parameter overhead"),
    Scenario("bf16-16Mx256", [(1 << 16,)] * 256, dtype="bfloat16",
             note="adamant keeps float32 master weights; the peers step bfloat16 directly"),
    Scenario("embedding-1Mx64", [(1 << 20, 64)], rows_per_step=4096, note="4,096 ids a step"),
]


def _cpu() -> str:
    """The CPU's model name."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _optimizers(scenario: Scenario, params: list[Any], threads: int, wanted: set[str]) -> dict[str, Any]:
    """The implementations that can step ``scenario``, each on ``params``."""
    import torch

    import adamant.torch as at

    half = scenario.dtype != "float32"
    made: dict[str, Callable[[], Any]] = {"adamant": lambda: at.Adam(params, lr=1e-3, threads=threads,
                                                                        multi_precision=half)}
    if scenario.rows_per_step:
        made["torch-sparseadam"] = lambda: torch.optim.SparseAdam(params, lr=1e-3)
    else:
        made["torch-fused"] = lambda: torch.optim.Adam(params, lr=1e-3, fused=True)
        made["torch-foreach"] = lambda: torch.optim.Adam(params, lr=1e-3, foreach=True)
        made["deepspeed-cpuadam"] = lambda: _deepspeed(params)
    out = {}
    for name, make in made.items():
        if name not in wanted:
            continue
        try:
            out[name] = make()
        except ImportError as e:
            print(f"  {name}: skipped, cannot be imported ({e})", file=sys.stderr)
    return out


def _deepspeed(params: list[Any]) -> Any:
    try:
        # DeepSpeed logs to stdout, which --json keeps for the records.
        with contextlib.redirect_stdout(sys.stderr):
            from deepspeed.ops.adam import DeepSpeedCPUAdam  # type: ignore[import-untyped, import-not-found, unused-ignore]
    except Exception as e:  # DeepSpeed raises more than ImportError when its ops cannot build
        raise ImportError(str(e).splitlines()[0] if str(e) else type(e).__name__) from e
    return DeepSpeedCPUAdam(params, lr=1e-3, adamw_mode=False)


def _gradients(scenario: Scenario, params: list[Any], generator: Any) -> Callable[[], list[Any]]:
    """A function giving fresh gradient objects for ``params`` (dense: views of one random
    gradient per parameter; sparse: new random ids, uncoalesced, as an embedding makes them)."""
    import torch

    if scenario.rows_per_step:
        (rows, cols), = scenario.shapes
        n = scenario.rows_per_step

        def sparse() -> list[Any]:
            ids = torch.randint(0, rows, (1, n), generator=generator)
            values = torch.randn(n, cols, generator=generator)
            return [torch.sparse_coo_tensor(ids, values, (rows, cols), check_invariants=False)]
        return sparse
    grads = [torch.randn(p.shape, generator=generator).to(p.dtype) for p in params]
    return lambda: [g.detach() for g in grads]


def run_scenario(scenario: Scenario, threads: int, steps: int, seconds: float, pause: float, wanted: set[str],
                 progress: bool) -> list[dict[str, Any]]:
    """Times ``scenario``: a warm-up step each, then up to ``steps`` timed steps each, in turn,
    stopping early (after at least 3) once ``seconds`` have passed; ``pause`` seconds idle
    before each timed step."""
    import torch

    generator = torch.Generator().manual_seed(0)
    dtype = getattr(torch, scenario.dtype)
    params = [torch.nn.Parameter(torch.randn(s, generator=generator).to(dtype)) for s in scenario.shapes]
    fresh = _gradients(scenario, params, generator)
    opts = _optimizers(scenario, params, threads, wanted)
    if not opts:
        return []
    times: dict[str, list[float]] = {name: [] for name in opts}
    start = time.perf_counter()
    names = list(opts)
    for step in range(steps + 1):
        # Each step starts with another implementation, so that each follows every other as
        # often (a step leaves the caches, and OpenMP's spinning workers, to the next).
        turn = step % max(len(names), 1)
        for name in names[turn:] + names[:turn]:
            opt = opts[name]
            for p, g in zip(params, fresh()):
                p.grad = g
            if pause:
                time.sleep(pause)
            t0 = time.perf_counter()
            opt.step()
            elapsed = time.perf_counter() - t0
            if step > 0:
                times[name].append(elapsed)
        if progress:
            print(f"\r  {scenario.name}: step {step}/{steps}", end="", file=sys.stderr, flush=True)
        if step >= 3 and time.perf_counter() - start > seconds:
            break
    if progress:
        print(file=sys.stderr)
    cpu = _cpu()
    records = []
    for name, ts in times.items():
        record: dict[str, Any] = dict(
            scenario=scenario.name, impl=name, median_ms=statistics.median(ts) * 1e3, min_ms=min(ts) * 1e3,
            max_ms=max(ts) * 1e3, steps=len(ts), elements=scenario.elements, tensors=len(params),
            dtype=scenario.dtype, threads=threads, cpu=cpu)
        if name == "adamant":
            record["per_param_us"] = record["median_ms"] * 1e3 / len(params)
        records.append(record)
    return records


def _table(records: list[dict[str, Any]]) -> str:
    """The records as text: each scenario's implementations with adamant's speed-up on them."""
    lines = [f"{'scenario':<18}{'impl':<20}{'median ms':>11}{'min ms':>10}{'adamant is':>12}"]
    ours = {r["scenario"]: r["median_ms"] for r in records if r["impl"] == "adamant"}
    for r in records:
        speedup = ""
        if r["impl"] != "adamant" and r["scenario"] in ours:
            speedup = f"{r['median_ms'] / ours[r['scenario']]:.2f}x"
        lines.append(f"{r['scenario']:<18}{r['impl']:<20}{r['median_ms']:>11.3f}{r['min_ms']:>10.3f}{speedup:>12}")
    for r in records:
        if r["impl"] == "adamant" and r["scenario"] == "100000x1":
            lines.append(f"per-parameter overhead: {r['per_param_us']:.3f} us (100000x1)")
    return "\n".join(lines)


def _matches(pattern: str, name: str) -> bool:
    """Whether ``--scenario pattern`` picks ``name``: its exact name (any case), or, when the
    pattern names no scenario exactly, any name that contains it."""
    exact = any(pattern.lower() == s.name.lower() for s in SCENARIOS)
    return pattern.lower() == name.lower() if exact else pattern.lower() in name.lower()


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m adamant.bench",
        description="Time adamant.torch.Adam against torch.optim.Adam (fused, foreach), SparseAdam and "
                    "DeepSpeedCPUAdam on the same tensors, in one process, step by step in turn.")
    parser.add_argument("--json", action="store_true", help="print the records as a JSON list")
    parser.add_argument("--threads", type=int, default=None,
                        help="threads for every implementation (default: torch.get_num_threads())")
    parser.add_argument("--scenario", action="append", default=None, metavar="NAME",
                        help="run the scenario NAME, or those whose name contains NAME (case-insensitive; repeatable); "
                             "default: all of " + ", ".join(s.name for s in SCENARIOS))
    parser.add_argument("--impl", action="append", default=None, choices=IMPLS,
                        help="time only this implementation (repeatable; default: all that can run)")
    parser.add_argument("--steps", type=int, default=10, help="timed steps per implementation (default 10)")
    parser.add_argument("--pause-ms", type=float, default=0.0,
                        help="idle this long before each timed step (default 0: back to back). OpenMP's "
                             "workers spin a while after PyTorch's steps and take cores from the next "
                             "implementation; a pause lets them sleep, but on a shared machine it also "
                             "lets the caches go cold")
    parser.add_argument("--seconds", type=float, default=30.0,
                        help="stop a scenario after this many seconds, once 3 steps are timed (default 30)")
    args = parser.parse_args(argv)
    if args.steps < 1:
        parser.error(f"--steps {args.steps}: at least 1")
    if args.threads is not None and args.threads < 1:
        parser.error(f"--threads {args.threads}: at least 1")
    if args.threads is not None:
        # DeepSpeed's kernels take OpenMP's thread count; set it before torch loads OpenMP.
        os.environ["OMP_NUM_THREADS"] = str(args.threads)
    import torch

    if args.threads is not None:
        torch.set_num_threads(args.threads)
    threads = torch.get_num_threads()
    chosen = SCENARIOS
    if args.scenario:
        chosen = [s for s in SCENARIOS if any(_matches(w, s.name) for w in args.scenario)]
        if not chosen:
            parser.error(f"--scenario {args.scenario}: none matches; the scenarios are "
                         + ", ".join(s.name for s in SCENARIOS))
    wanted = set(args.impl or IMPLS)
    print(f"{_cpu()}, {threads} threads, torch {torch.__version__}", file=sys.stderr)
    records: list[dict[str, Any]] = []
    for scenario in chosen:
        ran = run_scenario(scenario, threads, args.steps, args.seconds, args.pause_ms / 1e3, wanted,
                           progress=not args.json and sys.stderr.isatty())
        if not ran:
            print(f"  {scenario.name}: none of {', '.join(sorted(wanted))} can step it", file=sys.stderr)
        records.extend(ran)
    print(json.dumps(records, indent=1) if args.json else _table(records))
    return 0


if __name__ == "__main__":
    sys.exit(main())
