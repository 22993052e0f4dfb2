#!/usr/bin/env bash
# Verify, export WebDataset shards, show the plan, then publish and tag.
#   HF_TOKEN=... bash scripts/release.sh aas_benchmark ORG/aas_benchmark v1.0.0
set -euo pipefail
folder=${1:?release folder}; repo=${2:?ORG/NAME}; tag=${3:?vX.Y.Z}
aas=${AAS:-.venv/bin/aas}
"$aas" verify "$folder"
"$aas" export-webdataset "$folder"
"$aas" release "$folder" --repo-id "$repo" --tag "$tag" --dry-run
read -r -p "publish $folder to $repo@$tag? [y/N] " ok
[ "$ok" = "y" ] && "$aas" release "$folder" --repo-id "$repo" --tag "$tag"
