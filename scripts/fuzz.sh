#!/usr/bin/env bash
# Runs every fuzz target for a bounded time (default 120 s each) from its seeds, one job on
# one core, and prints a line per target: runs, coverage, corpus size and whether it crashed.
#
#   scripts/fuzz.sh [seconds-per-target] [target ...]
#
# Needs cargo-fuzz (`cargo install cargo-fuzz`). The machine's toolchain is stable, so the
# build runs with RUSTC_BOOTSTRAP=1 (libFuzzer's instrumentation flags are nightly-only) and
# without a sanitizer (Rust code is memory-safe; the C in the dependencies is what ASan
# would add). Crashes land in fuzz/artifacts/<target>/ and fail the script.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
secs="${1:-120}"
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  mapfile -t targets < <(cargo fuzz list)
fi
export RUSTC_BOOTSTRAP=1 RAYON_NUM_THREADS=1 OMP_NUM_THREADS=1
cargo fuzz build --sanitizer none --release
mkdir -p corpus logs
status=0
for t in "${targets[@]}"; do
  mkdir -p "corpus/$t"
  seeds=()
  [ -d "seeds/$t" ] && seeds=("seeds/$t")
  log="logs/$t.log"
  if cargo fuzz run --sanitizer none --release "$t" "corpus/$t" "${seeds[@]}" -- \
    -max_total_time="$secs" -timeout=10 -rss_limit_mb=4096 -max_len=65536 -print_final_stats=1 >"$log" 2>&1; then
    verdict=ok
  else
    verdict=CRASH
    status=1
  fi
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo "?")
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*' || echo "?")
  files=$(find "corpus/$t" -type f | wc -l)
  printf '%-18s %-6s %8s runs in %ss  cov %6s  corpus %5s\n' "$t" "$verdict" "$runs" "$secs" "$cov" "$files"
  if [ "$verdict" = CRASH ]; then
    grep -m5 -E 'panicked|ERROR|Test unit written' "$log" | sed 's/^/    /'
  fi
done
exit $status
