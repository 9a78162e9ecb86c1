#!/usr/bin/env bash
# Sets up .venv with the test extras and runs the whole test suite (what CI runs).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$ROOT/scripts/setup_env.sh" test
cd "$ROOT"
echo "== running the tests"
exec python -m pytest -n 2 --dist loadfile --durations=15 "$@"
