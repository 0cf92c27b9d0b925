#!/usr/bin/env bash
# host-wasm on a fresh Debian machine: install, build, test. Idempotent;
# exits non-zero on any failure. (The benchmark is separate: npm run bench.)
set -euo pipefail
cd "$(dirname "$0")"
start=$(date +%s)

if ! command -v wasm-opt >/dev/null 2>&1; then
  # Optional (a smaller, faster module); the build goes on without it.
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    { apt-get install -y -qq binaryen >/dev/null 2>&1 ||
      { apt-get update -qq && apt-get install -y -qq binaryen >/dev/null 2>&1; }; } ||
      echo "binaryen not installed; building without wasm-opt"
  fi
fi

# The browser test (test/browser.test.mjs) runs the package in headless
# Chromium: installed here when missing, as host-linux/overlay-tests does.
CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"
if [ ! -x "$CHROMIUM" ]; then
  sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  apt=(timeout 600 $sudo env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=120)
  "${apt[@]}" install -y -qq --no-install-recommends chromium >/dev/null ||
    { "${apt[@]}" update -qq && "${apt[@]}" install -y -qq --no-install-recommends chromium >/dev/null; }
fi
[ -x "$CHROMIUM" ] || { echo "no Chromium at $CHROMIUM: the browser test cannot run" >&2; exit 1; }
export CHROMIUM

# The Rust side's own unit tests (the batch layout), natively.
cargo test --release --lib --locked
npm ci --no-audit --no-fund
npm run build
# The server the watch test runs (CI has built it already: then this is quick).
(cd .. && cargo build -p douyu-host --locked)
npm test
echo "host-wasm: test.sh done in $(( $(date +%s) - start )) s"
