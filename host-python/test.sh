#!/usr/bin/env bash
# Builds and tests the Python package on a fresh machine: a new virtual
# environment, `pip install ./host-python` (maturin comes from PyPI as the
# build backend), pytest and hypothesis, the `douyu` server binary the tests
# run, then the suite. Exits non-zero on any failure.
#
#   bash host-python/test.sh            # from anywhere in the repository
#   PYTHON=python3.12 bash host-python/test.sh
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
cd "$root"

python="${PYTHON:-python3}"
venv="$root/target/py-venv"
# The extension is built in the workspace's target directory, so that the
# core and the dependencies already built there (and in CI's cache) are
# reused, and a second run rebuilds nothing.
export CARGO_TARGET_DIR="$root/target"

start=$(date +%s)
rm -rf "$venv"
"$python" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet "pytest>=7" "hypothesis>=6" "mypy>=1.10"
echo "test.sh: test tools installed in $(( $(date +%s) - start )) s"
"$venv/bin/python" -m pip install --quiet "$here"
echo "test.sh: installed douyu-python in $(( $(date +%s) - start )) s"

# The server the tests talk to (CI has usually built it already).
cargo build -p douyu-host --locked --quiet

cd "$here"
# Every test is bounded in time by its own timeouts; the whole run by this.
timeout 600 "$venv/bin/python" -m pytest -q -p no:cacheprovider --durations=5 tests
echo "test.sh: done in $(( $(date +%s) - start )) s"
