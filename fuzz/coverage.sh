#!/usr/bin/env bash
# Line coverage of douyu-core's decoders by what the fuzz targets start from
# (seeds, the checked-in corpus, the regression inputs), all targets
# together: a Markdown table per file and the lines no input reaches.
# On demand, not in CI (it builds every target again, instrumented).
#
#   bash fuzz/coverage.sh             # every target
#   bash fuzz/coverage.sh stt frame   # some
set -euo pipefail
cd "$(dirname "$0")"
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(frame stream stt roundtrip client server)

rustup +nightly component add llvm-tools-preview >/dev/null
bin="$(rustc +nightly --print sysroot)/lib/rustlib/x86_64-unknown-linux-gnu/bin"
python3 seed.py corpus
lcovs=()
for target in "${targets[@]}"; do
  dirs=("corpus-min/$target")
  # The seeds alone, not what earlier campaigns added to corpus/<target>.
  seeds=$(mktemp -d)
  cp corpus/"$target"/seed-* "$seeds"/
  dirs+=("$seeds")
  [ -d "regressions/$target" ] && dirs+=("regressions/$target")
  # -a: the build that is fuzzed (debug assertions count as lines).
  cargo +nightly fuzz coverage -a "$target" "${dirs[@]}" >"logs/coverage-$target.log" 2>&1 ||
    { tail -n 30 "logs/coverage-$target.log"; exit 1; }
  rm -rf "$seeds"
  # Each binary with its own profile: merged profiles of different binaries
  # disagree on some inlined functions, whose counts llvm-cov then drops.
  "$bin/llvm-cov" export -format=lcov -instr-profile="coverage/$target/coverage.profdata" \
    "target/x86_64-unknown-linux-gnu/coverage/x86_64-unknown-linux-gnu/release/$target" \
    >"coverage/$target.lcov"
  lcovs+=("coverage/$target.lcov")
done
python3 - "${lcovs[@]}" <<'PY'
import re, sys
files = {}
for lcov in sys.argv[1:]:
    name = None
    for line in open(lcov):
        if line.startswith("SF:"):
            name = line[3:].strip()
            files.setdefault(name, {})
        elif line.startswith("DA:") and name:
            number, count = line[3:].split(",")[:2]
            # A line is covered if any target reached it.
            lines = files[name]
            lines[int(number)] = lines.get(int(number), 0) + int(count)
wanted = re.compile(r"core/src/(frame\.rs|stream\.rs|message\.rs|stt/.*|session/.*)$")
print("| file | lines | covered | % | uncovered lines |")
print("|---|---:|---:|---:|---|")
total = hit = 0
for name in sorted(files):
    match = wanted.search(name)
    if not match:
        continue
    lines = files[name]
    missed = sorted(n for n, c in lines.items() if c == 0)
    total += len(lines)
    hit += len(lines) - len(missed)
    pct = 100 * (len(lines) - len(missed)) / len(lines)
    print(f"| {match.group(1)} | {len(lines)} | {len(lines) - len(missed)} | {pct:.1f} | {', '.join(map(str, missed))} |")
print(f"| **all** | {total} | {hit} | {100 * hit / total:.1f} | |")
PY
