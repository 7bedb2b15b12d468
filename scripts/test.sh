#!/usr/bin/env bash
# The whole test suite. Fetches the evaluation data and model weights that data- and
# model-backed tests use (they skip with a message when absent), then runs every test of
# every crate with every feature (so feature-gated backends are tested for real).
set -euo pipefail
cd "$(dirname "$0")/.."
export RAYON_NUM_THREADS=1 OMP_NUM_THREADS=1
# cmake and libclang (llama.cpp for the gguf feature): installed here when missing.
scripts/prereqs.sh
scripts/fetch-data.sh || echo "warning: could not fetch evaluation data; data-backed tests will skip"
scripts/fetch-models.sh || echo "warning: could not fetch model weights; model-backed tests will skip"
# pdf.js for the web page's page view (embedded by cairn-server's build when present).
scripts/fetch-web.sh || echo "warning: could not fetch pdf.js; the web page will have no page view"
# PostgreSQL, MariaDB and Redis on loopback (Debian packages) for the store conformance
# suite; without them those backends skip with a message.
if services=$(scripts/services.sh --env); then
  eval "$services"
else
  echo "warning: could not start PostgreSQL/MariaDB/Redis; server-backed tests will skip"
fi
cargo test --workspace --all-features
