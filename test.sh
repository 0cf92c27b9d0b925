#!/usr/bin/env bash
# The whole test suite, on a fresh Debian machine with ../shared beside the
# clone: the workspace's Rust tests, then every host's own tests. Each host's
# script installs what it needs (QEMU, Chromium, a Python venv, Node packages)
# the first time, bounds every step in time, and exits non-zero on a failure.
#
#   bash test.sh            everything
#   bash test.sh rust c     only the named parts: rust, cortex-m, c, python,
#                           wasm, overlay, nats
set -euo pipefail
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
cd "$(dirname "$0")"

[ -d ../shared/vectors ] || { echo "../shared/vectors is missing: clone beside shared/" >&2; exit 1; }

# name:script, in the order they run.
HOSTS=(
  "cortex-m:host-cortex-m/test.sh"
  "c:host-c/test.sh"
  "python:host-python/test.sh"
  "wasm:host-wasm/test.sh"
  "overlay:host-linux/overlay-tests/test.sh"
  "nats:host-linux/collect-tests.sh"
)

ONLY="$*"
results=() failures=()
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
# Runs one part, its output shown as it comes and kept, so that a failure's
# last lines can be repeated at the end (where a CI log's tail shows them).
run_part() {
  local name=$1; shift
  [ -z "$ONLY" ] || [[ " $ONLY " == *" $name "* ]] || return 0
  printf '\n==> test: %s\n' "$name"
  local start=$SECONDS log=$logs/$name
  if "$@" 2>&1 | tee "$log"; then
    results+=("ok      ${name} ($((SECONDS - start)) s)")
  else
    results+=("FAILED  ${name} ($((SECONDS - start)) s)")
    failures+=("--- ${name}: its last lines" "$(grep -v '^[[:space:]]*$' "$log" | tail -n 15)")
  fi
}

run_part rust cargo test --workspace --locked
# The hosts talk to the project's own server (target/debug/douyu): built once
# here for all of them (a no-op after the Rust tests).
[ ${#HOSTS[@]} -eq 0 ] || cargo build -p douyu-host --locked
for entry in "${HOSTS[@]}"; do
  run_part "${entry%%:*}" bash "${entry#*:}"
done

[ ${#failures[@]} -eq 0 ] || { printf '\n==> what failed\n'; printf '%s\n' "${failures[@]}"; }
printf '\n==> test results\n'
printf '%s\n' "${results[@]}"
! printf '%s\n' "${results[@]}" | grep -q '^FAILED'
