#!/usr/bin/env bash
# Runs the fuzz targets, each for SECONDS (default 60), with the seed corpus
# and the protocol dictionary; fails on the first crash.
#
#   fuzz/run.sh                 # every target, 60 s each (what CI does)
#   fuzz/run.sh 3600 stream     # a longer campaign on one target
#   JOBS=2 fuzz/run.sh 600      # libFuzzer workers per target
set -euo pipefail
cd "$(dirname "$0")"
seconds=${1:-60}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(frame stream stt roundtrip client server)
jobs=${JOBS:-1}

command -v cargo-fuzz >/dev/null || cargo install --locked cargo-fuzz
python3 seed.py corpus
mkdir -p logs
for target in "${targets[@]}"; do
  echo "==> fuzz $target for ${seconds}s"
  log="logs/$target.log"
  # -a: debug assertions on, so the invariants `unsafe` relies on are checked.
  if ! cargo +nightly fuzz run -a "$target" "corpus/$target" -- \
      -max_total_time="$seconds" -dict=douyu.dict -print_final_stats=1 \
      -timeout=10 -rss_limit_mb=2048 -jobs="$jobs" -workers="$jobs" >"$log" 2>&1; then
    tail -n 60 "$log"
    echo "fuzz target $target FAILED: see fuzz/$log and fuzz/artifacts/$target" >&2
    exit 1
  fi
  execs=$(grep -h 'stat::number_of_executed_units' "$log" | awk '{s += $2} END {print s + 0}')
  cov=$(grep -hoE 'cov: [0-9]+' "$log" | tail -n 1)
  echo "    $target: $execs executions, corpus $(ls "corpus/$target" | wc -l) inputs, $cov"
done
