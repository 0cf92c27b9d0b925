#!/usr/bin/env bash
# Runs the fuzz targets: first each over every crash ever found
# (regressions/<target>), then fuzzing it for SECONDS (default 60) from the
# seeds and the checked-in corpus, with the protocol dictionary; fails on the
# first crash.
#
#   fuzz/run.sh                 # every target, 60 s each (what CI does)
#   fuzz/run.sh 3600 stream     # a longer campaign on one target
#   JOBS=2 fuzz/run.sh 600      # libFuzzer workers per target
#
# The working corpus (corpus/<target>, not in git) holds the seeds and what
# fuzzing adds; corpus-min/<target> (in git) is read, never written: refresh
# it with fuzz/minimize.sh.
set -euo pipefail
shopt -s nullglob
cd "$(dirname "$0")"
seconds=${1:-60}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(frame stream stt roundtrip client server)
jobs=${JOBS:-1}
# One job runs in-process, its output in the target's log; more are
# libFuzzer's jobs, each writing fuzz-<n>.log here.
parallel=()
[ "$jobs" -le 1 ] || parallel=(-jobs="$jobs" -workers="$jobs")

command -v cargo-fuzz >/dev/null || cargo install --locked cargo-fuzz
python3 seed.py corpus
mkdir -p logs
for target in "${targets[@]}"; do
  log="logs/$target.log"
  rm -f fuzz-*.log
  if [ -d "regressions/$target" ]; then
    echo "==> replay $(ls "regressions/$target" | wc -l) regression inputs of $target"
    # -a: debug assertions on, so the invariants `unsafe` relies on are checked.
    if ! cargo +nightly fuzz run -a "$target" "regressions/$target" -- -runs=0 >"$log" 2>&1; then
      tail -n 60 "$log"
      echo "fuzz target $target FAILED on a regression input: see fuzz/$log" >&2
      exit 1
    fi
  fi
  echo "==> fuzz $target for ${seconds}s"
  if ! cargo +nightly fuzz run -a "$target" "corpus/$target" "corpus-min/$target" -- \
      -max_total_time="$seconds" -dict=douyu.dict -print_final_stats=1 \
      -timeout=10 -rss_limit_mb=2048 "${parallel[@]}" >"$log" 2>&1; then
    tail -n 60 "$log" fuzz-*.log
    echo "fuzz target $target FAILED: see fuzz/$log and fuzz/artifacts/$target" >&2
    exit 1
  fi
  logs=("$log" fuzz-*.log)
  execs=$(awk '/stat::number_of_executed_units/ {s += $2} END {print s + 0}' "${logs[@]}")
  cov=$(grep -hoE 'cov: [0-9]+' "${logs[@]}" | tail -n 1 || true)
  echo "    $target: $execs executions, corpus $(ls "corpus/$target" | wc -l) inputs, $cov"
done
