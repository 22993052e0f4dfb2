#!/usr/bin/env bash
# Build a recipe on one GPU node: one worker process per visible GPU, same code path as the
# laptop build. Resumable: rerun after any interruption.
#   CUDA_VISIBLE_DEVICES=0,1,2,3 bash scripts/gpu_node_build.sh builders/aas_benchmark.yaml /scratch/aas_benchmark
# Secrets (HF_TOKEN, OPENROUTER_API_KEY, ...) come from the environment only.
set -euo pipefail
cd "$(dirname "$0")/.."
recipe=${1:?recipe}
out=${2:?output folder}
TORCH_SPEC=${TORCH_SPEC:-torch} bash scripts/setup.sh
gpus=$(python3 -c "import os; print(len([d for d in os.environ.get('CUDA_VISIBLE_DEVICES','0').split(',') if d]))")
.venv/bin/aas build "$recipe" --plan --out "$out"
.venv/bin/aas build "$recipe" --out "$out" --workers "$gpus"
.venv/bin/aas verify "$out"
