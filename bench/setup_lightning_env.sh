#!/usr/bin/env bash
# Create .bench-venv: a benchmark-only environment with Lightning next to stager.
#
# Lightning is never a dependency of stager; it lives only here, so that
# bench/trainer_overhead.py and bench/import_time.py can compare against it.
# torch is pinned in the same pip command so pip never swaps in another build.
#
#   bash bench/setup_lightning_env.sh            # creates ./.bench-venv
#   BENCH_VENV=/tmp/bv bash bench/setup_lightning_env.sh
#   PYTHON=python3.11 bash bench/setup_lightning_env.sh
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${BENCH_VENV:-$ROOT/.bench-venv}"
PYTHON="${PYTHON:-python3}"
TORCH_VERSION="${TORCH_VERSION:-2.13.0}"

if [ ! -x "$VENV/bin/python" ]; then
    "$PYTHON" -m venv "$VENV"
fi
PY="$VENV/bin/python"
# One command: torch pinned, so lightning's own "torch>=..." cannot pull another build.
"$PY" -m pip install "torch==$TORCH_VERSION" lightning numpy pyyaml typer rich tqdm
# stager itself, editable, without letting pip resolve its dependencies again.
"$PY" -m pip install --no-deps -e "$ROOT"

"$PY" - <<'EOF'
import torch, lightning, stager.train
print(f"torch {torch.__version__}, lightning {lightning.__version__}, stager from {stager.__file__}")
EOF
echo "ready: $VENV  (run: $VENV/bin/python bench/trainer_overhead.py)"
