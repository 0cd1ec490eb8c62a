#!/usr/bin/env bash
# promptc beside DSPy on the example: installs DSPy from PyPI into target/dspy-venv
# (ignored by git), then runs the optimizer benchmark, which runs DSPy's MIPROv2 and
# promptc's search against promptc's local simulator server and prints both.
#
#     scripts/side-by-side.sh                  # one round
#     PROMPTC_BENCH_ROUNDS=3 scripts/side-by-side.sh
set -euo pipefail
cd "$(dirname "$0")/.."
DSPY_VERSION="${DSPY_VERSION:-3.4.1}"
venv=target/dspy-venv
if ! "$venv/bin/python" -c "import dspy, optuna, sys; sys.exit(dspy.__version__ != '$DSPY_VERSION')" 2>/dev/null; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet "dspy[optuna]==$DSPY_VERSION"
fi
exec cargo bench --bench optimize
