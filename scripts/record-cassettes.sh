#!/usr/bin/env bash
# Re-records the cassettes the tests replay, from real runs of the Gemma 3 270M GGUF
# (scripts/fetch-models.sh) through Cairn's in-process backend. Needs the gguf feature.
set -euo pipefail
cd "$(dirname "$0")/.."
export RAYON_NUM_THREADS=1 OMP_NUM_THREADS=1
cargo build --release --bin cairn --features cairn-cli/gguf
kb=$(mktemp -d)
./target/release/cairn demo --kb "$kb" >/dev/null
c=crates/cairn-cli/tests/cassettes/gemma-270m-demo.jsonl
rm -f "$c"
./target/release/cairn --kb "$kb" ask "Can simvastatin be taken with clarithromycin?" \
  --llm "record:$c=gguf:models/gemma-3-270m/gemma-3-270m-q4_k_m.gguf" --json >/dev/null
rm -rf "$kb"
echo "recorded $c"
