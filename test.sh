#!/usr/bin/env bash
# Every test of the project: the Rust workspace, then the Python package (built from
# crates/adamant-py into a local virtual environment, which is made, with what the tests need,
# when it is missing; PyPI's torch for Linux brings about 5 GB of CUDA libraries the first time).
#
#   ./test.sh                     all of it
#   ADAMANT_VENV=dir ./test.sh    use (or make) the virtual environment dir instead of .venv
set -euo pipefail
cd "$(dirname "$0")"

cargo test --workspace --locked

venv="$(realpath -m "${ADAMANT_VENV:-.venv}")"
pip_output=--quiet
if [ ! -x "$venv/bin/python" ]; then
    echo "test.sh: making $venv with what the Python tests need (PyTorch is about 5 GB)" >&2
    python3 -m venv "$venv"
    pip_output=--progress-bar=off
fi
python="$venv/bin/python"
"$python" -m pip install "$pip_output" --disable-pip-version-check "maturin>=1.5,<2" "numpy>=1.21" "pytest>=7" \
    "torch>=2.1" "scikit-learn>=1.0" "mypy>=1.8"

# The extension's own checks and Rust unit tests (it is outside the Cargo workspace).
manifest=crates/adamant-py/Cargo.toml
cargo fmt --manifest-path "$manifest" -- --check
cargo clippy --manifest-path "$manifest" --locked -- -D warnings
PYO3_PYTHON="$python" cargo test --manifest-path "$manifest" --locked

VIRTUAL_ENV="$venv" "$python" -m maturin develop --release --locked --quiet --manifest-path "$manifest"
# The package's types, its stubs of the extension included.
(cd crates/adamant-py/python && "$python" -m mypy --strict --no-incremental -p adamant)
"$python" -m pytest crates/adamant-py/tests -q
