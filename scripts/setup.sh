#!/usr/bin/env bash
# Create ./.venv (if missing) and install aas_dataset with the extras a build and the tests need.
#   bash scripts/setup.sh         # build extras (gen, llm, webdataset)
#   bash scripts/setup.sh test    # + test tools
# Torch is installed first and pinned (TORCH_SPEC): an unpinned torch requirement with no
# torch present pulls a multi-GB CUDA build. On a GPU node, set TORCH_SPEC to the build you want.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
VENV=${AAS_VENV:-.venv}
TORCH_SPEC=${TORCH_SPEC:-torch==2.13.0}
extras="gen,llm,webdataset"
[ "${1:-}" = "test" ] && extras="$extras,test"

[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
pip() { "$VENV/bin/python" -m pip --disable-pip-version-check -q "$@"; }
"$VENV/bin/python" -c "import torch" 2>/dev/null || pip install "$TORCH_SPEC"
pip install -e ".[$extras]"
"$VENV/bin/python" -c "import aas_dataset, torch, diffusers" >/dev/null
echo "ready: $VENV ($extras)"
