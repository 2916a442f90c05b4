"""The examples run as a user runs them, and train."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def final_accuracy(script: str, *args: str) -> float:
    out = subprocess.run([sys.executable, str(EXAMPLES / script), *args], check=True, capture_output=True,
                         text=True, timeout=300).stdout
    return float(re.findall(r"test accuracy ([\d.]+)%", out)[-1]) / 100


def test_the_digits_mlp_learns() -> None:
    assert final_accuracy("digits_mlp.py", "--epochs", "10") > 0.94
    assert final_accuracy("digits_mlp.py", "--epochs", "10", "--rule", "mxnet") > 0.94


def test_the_sparse_embedding_model_learns() -> None:
    assert final_accuracy("sparse_embedding.py", "--epochs", "3") > 0.85


def test_the_readme_example_runs_and_trains() -> None:
    readme = (EXAMPLES.parents[2] / "README.md").read_text(encoding="utf-8")
    [block] = re.findall(r"```python\n(.*?)```", readme, flags=re.S)
    scope: dict[str, object] = {}
    exec(compile(block, "README.md", "exec"), scope)
    import torch

    model, x, y = scope["model"], scope["x"], scope["y"]
    loss = torch.nn.functional.cross_entropy(model(x), y).item()  # type: ignore[operator]
    assert loss < 1.0, f"100 steps of AdamW left the loss at {loss}"
