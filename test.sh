#!/usr/bin/env bash
# Every test of the project: the Rust workspace, then the Python package (built from
# crates/adamant-py into a local virtual environment, which is made, with what the tests need,
# when it is missing; PyPI's torch for Linux brings about 3 GB of CUDA libraries the first time,
# which it loads on import even on a machine without a GPU).
#
#   ./test.sh                     all of it
#   ADAMANT_VENV=dir ./test.sh    use (or make) the virtual environment dir instead of .venv
set -euo pipefail
cd "$(dirname "$0")"

cargo test --workspace --locked

venv="$(realpath -m "${ADAMANT_VENV:-.venv}")"
pip_output=--quiet
if [ ! -x "$venv/bin/python" ]; then
    echo "test.sh: making $venv with what the Python tests need (PyTorch: about 3 GB to download," \
        "5 GB installed; pip will say that torch requires triton, which is left out on purpose)" >&2
    python3 -m venv "$venv"
    pip_output=--progress-bar=off
fi
python="$venv/bin/python"
# No pip cache: it would keep a second copy of every wheel (gigabytes) on a small disk.
pip_install() {
    "$python" -m pip install "$pip_output" --no-cache-dir --disable-pip-version-check "$@"
}
pip_install "maturin>=1.5,<2" "numpy>=1.21" "pytest>=7" "scikit-learn>=1.0" "mypy>=1.8"
# torch with the requirements it states, less triton: triton is torch.compile's GPU compiler
# (about 1 GB installed), which `import torch` and these tests never use.
pip_install --no-deps "torch>=2.1"
"$python" -c '
from importlib.metadata import requires
for requirement in requires("torch") or []:
    if not requirement.startswith("triton") and "extra ==" not in requirement:
        print(requirement)
' >"$venv/torch-requirements.txt"
pip_install -r "$venv/torch-requirements.txt"

# The extension's own checks and Rust unit tests (it is outside the Cargo workspace).
manifest=crates/adamant-py/Cargo.toml
cargo fmt --manifest-path "$manifest" -- --check
cargo clippy --manifest-path "$manifest" --locked -- -D warnings
PYO3_PYTHON="$python" cargo test --manifest-path "$manifest" --locked

VIRTUAL_ENV="$venv" "$python" -m maturin develop --release --locked --quiet --manifest-path "$manifest"
# The package's types, its stubs of the extension included.
(cd crates/adamant-py/python && "$python" -m mypy --strict --no-incremental -p adamant)
"$python" -m pytest crates/adamant-py/tests -q
