#!/usr/bin/env bash
# The whole test suite. Fetches the evaluation data the data-backed tests use (they skip
# with a message when it is absent), then runs every test of every crate.
set -euo pipefail
cd "$(dirname "$0")/.."
export RAYON_NUM_THREADS=1 OMP_NUM_THREADS=1
scripts/fetch-data.sh || echo "warning: could not fetch evaluation data; data-backed tests will skip"
cargo test --workspace --all-features
