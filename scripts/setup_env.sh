#!/usr/bin/env bash
# Creates (or reuses) the project's virtual environment in .venv and installs the project into it.
# Usage: source scripts/setup_env.sh [extras]   e.g. "test"
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON="${PYTHON:-python3}"
VENV="${SLIM_VENV:-$ROOT/.venv}"
if [ ! -x "$VENV/bin/python" ]; then
  echo "== creating virtual environment $VENV"
  "$PYTHON" -m venv "$VENV"
  "$VENV/bin/python" -m pip install --quiet --upgrade pip
fi
EXTRAS="${1:-}"
echo "== installing the project (pip install -e .${EXTRAS:+[$EXTRAS]})"
"$VENV/bin/python" -m pip install --quiet -e "$ROOT${EXTRAS:+[$EXTRAS]}"
export PATH="$VENV/bin:$PATH"
