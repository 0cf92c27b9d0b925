#!/usr/bin/env bash
# Refreshes the checked-in corpus (corpus-min/<target>) after a campaign:
# libFuzzer's merge keeps the fewest (and smallest) inputs of the working
# corpus, the seeds and the current corpus-min that reach every code edge
# any of them reaches. Edges, not hit counts (-use_counters=0): counting
# hits kept 1,355 inputs (1.6 MiB) for stt after a 170 s run, edges 397
# (108 KiB).
#
#   bash fuzz/run.sh 300 && bash fuzz/minimize.sh   # fuzz, then minimize every target
#   bash fuzz/minimize.sh stt                         # one target
set -euo pipefail
cd "$(dirname "$0")"
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(frame stream stt roundtrip client server)

python3 seed.py corpus
mkdir -p logs
for target in "${targets[@]}"; do
  fresh=$(mktemp -d)
  mkdir -p "corpus-min/$target"
  cargo +nightly fuzz run -a "$target" "$fresh" "corpus/$target" "corpus-min/$target" -- \
    -merge=1 -use_counters=0 -timeout=10 -rss_limit_mb=2048 >"logs/minimize-$target.log" 2>&1 ||
    { tail -n 30 "logs/minimize-$target.log"; exit 1; }
  rm -rf "corpus-min/$target"
  mv "$fresh" "corpus-min/$target"
  chmod 755 "corpus-min/$target"
  echo "$target: $(ls "corpus-min/$target" | wc -l) inputs, $(du -sk --apparent-size "corpus-min/$target" | cut -f1) KiB"
done
