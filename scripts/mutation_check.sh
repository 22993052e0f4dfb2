#!/usr/bin/env bash
# Weaken the package on purpose (one mutation at a time, in a scratch copy) and check that the
# tests guarding each claim fail. Exits 1 if a mutation survives. See scripts/mutation_check.py.
#   bash scripts/mutation_check.sh            # all
#   bash scripts/mutation_check.sh verify     # those whose name contains "verify"
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${AAS_VENV:-.venv}
exec "$VENV/bin/python" scripts/mutation_check.py "$@"
