#!/usr/bin/env bash
# The test command: install what the tests need into ./.venv, lint, run pytest.
#   bash scripts/test.sh            # everything (about 12 minutes on 2 cores)
#   bash scripts/test.sh -m "not slow"
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh test
VENV=${AAS_VENV:-.venv}
"$VENV/bin/ruff" check aas_dataset tests benchmarks
HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 "$VENV/bin/python" -m pytest -q "$@"
