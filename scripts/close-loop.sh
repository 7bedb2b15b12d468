#!/usr/bin/env bash
# From general model to domain expert: the whole adaptation loop on the demo pack, with
# Cairn's own tools, timing every stage (README, "From general model to domain expert").
#
#   scripts/fetch-models.sh
#   cargo build --release --bin cairn --features "cairn-cli/train cairn-cli/gguf"
#   scripts/close-loop.sh [WORK_DIR]          # default target/close-loop
#
# Stages: the demo knowledge base; import the 0.5B GGUF as a trainable folder; verified task
# data written by the 1.5B teacher; LoRA SFT; GRPO with the verifier as reward; DPO on the
# verified-over-unverified pairs; merge after each stage; export Q8_0 and check it against
# the merged model; register it as the knowledge base's `local_model` and ask with it.
# A stage whose output exists is skipped, so an interrupted run resumes (and a run can
# start from task data written elsewhere: put answers.jsonl and pairs.jsonl in WORK_DIR).
#
# Sizes (environment): N examples to keep (6), SFT_STEPS (12), GRPO_ITERS (2), DPO_STEPS (4),
# THREADS for the teacher and training (2; tests and benchmarks use 1).
set -euo pipefail
cd "$(dirname "$0")/.."
W=${1:-target/close-loop}
CAIRN=${CAIRN:-target/release/cairn}
M05=models/qwen2.5-coder-0.5b-instruct/qwen2.5-coder-0.5b-instruct.gguf
M15=models/qwen2.5-coder-1.5b-instruct/qwen2.5-coder-1.5b-instruct.gguf
N=${N:-6}
SFT_STEPS=${SFT_STEPS:-12}
GRPO_ITERS=${GRPO_ITERS:-2}
DPO_STEPS=${DPO_STEPS:-4}
THREADS=${THREADS:-2}
export RAYON_NUM_THREADS=$THREADS

for f in "$CAIRN" "$M05" "$M15"; do
    [ -e "$f" ] || { echo "missing $f: see the usage at the top of $0" >&2; exit 2; }
done
mkdir -p "$W"
TIMES=$W/times.md

# stage NAME OUTPUT COMMAND…: runs COMMAND unless OUTPUT exists, and records its time.
stage() {
    local name=$1 output=$2
    shift 2
    if [ -e "$output" ]; then
        echo "== $name: $output exists, skipped"
        return
    fi
    echo "== $name"
    local t0 t1
    t0=$(date +%s.%N)
    "$@"
    t1=$(date +%s.%N)
    awk -v n="$name" -v a="$t0" -v b="$t1" 'BEGIN { printf "| %s | %.0f s |\n", n, b - a }' | tee -a "$TIMES"
}

[ -e "$TIMES" ] || printf '| stage | time |\n|---|---|\n' > "$TIMES"
stage "knowledge base (demo pack)" "$W/kb/kb.sqlite" \
    "$CAIRN" --kb "$W/kb" demo
stage "import the 0.5B GGUF" "$W/base/config.json" \
    "$CAIRN" train import --gguf "$M05" --out "$W/base"
stage "task data (1.5B teacher, verified)" "$W/answers.jsonl" \
    "$CAIRN" --kb "$W/kb" --set gguf_threads="$THREADS" train data --teacher "gguf:$M15" -n "$N" \
    --pairs "$W/pairs.jsonl" --out "$W/answers.jsonl"
stage "LoRA SFT ($SFT_STEPS steps)" "$W/sft/adapter_config.json" \
    "$CAIRN" train sft --model "$W/base" --data "$W/answers.jsonl" --out "$W/sft" --max-len 2048 \
    --batch-size 1 --steps "$SFT_STEPS" --lr 2e-4 --metrics "$W/sft.metrics.jsonl"
stage "merge SFT" "$W/m-sft/config.json" \
    "$CAIRN" train merge --model "$W/base" --adapter "$W/sft" --out "$W/m-sft"
stage "GRPO ($GRPO_ITERS iterations, G=2)" "$W/grpo/adapter_config.json" \
    "$CAIRN" train grpo --model "$W/m-sft" --data "$W/answers.jsonl" --out "$W/grpo" --group 2 \
    --max-new-tokens 160 --iterations "$GRPO_ITERS" --max-prompt-len 1300 --metrics "$W/grpo.metrics.jsonl"
stage "merge GRPO" "$W/m-grpo/config.json" \
    "$CAIRN" train merge --model "$W/m-sft" --adapter "$W/grpo" --out "$W/m-grpo"
FINAL=$W/m-grpo
if [ -s "$W/pairs.jsonl" ]; then
    stage "DPO ($DPO_STEPS steps)" "$W/dpo/adapter_config.json" \
        "$CAIRN" train dpo --model "$W/m-grpo" --data "$W/pairs.jsonl" --out "$W/dpo" --max-len 2048 \
        --batch-size 1 --steps "$DPO_STEPS" --lr 1e-4 --metrics "$W/dpo.metrics.jsonl"
    stage "merge DPO" "$W/m-dpo/config.json" \
        "$CAIRN" train merge --model "$W/m-grpo" --adapter "$W/dpo" --out "$W/m-dpo"
    FINAL=$W/m-dpo
else
    echo "== DPO: no preference pairs (every second answer agreed with the first), skipped"
fi
stage "export Q8_0 (checked)" "$W/cairn-q05-tuned.gguf" \
    "$CAIRN" train export --model "$FINAL" --out "$W/cairn-q05-tuned.gguf" --quant q8_0 \
    --check "Can simvastatin be taken with clarithromycin?" --min-agreement 0.9
grep -q '^local_model' "$W/kb/cairn.toml" 2>/dev/null ||
    echo "local_model = \"$(realpath "$W/cairn-q05-tuned.gguf")\"" >> "$W/kb/cairn.toml"
stage "ask with the adapted model" "$W/answer.txt" \
    sh -c "'$CAIRN' --kb '$W/kb' --set gguf_threads=$THREADS ask 'Can simvastatin be taken with clarithromycin?' --llm local | tee '$W/answer.txt'"
echo
cat "$TIMES"
