#!/usr/bin/env bash
# The overlay page in headless Chromium (see overlay.test.mjs), from a fresh
# Debian machine: installs what is missing (Chromium, a CJK font, the npm
# packages of package-lock.json), builds `douyu` if it is not built, runs
# the browser tests, prints the throughput measurement and where the
# screenshot is. Every step is bounded in time; exits non-zero on failure.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
export DOUYU="${DOUYU:-$repo/target/debug/douyu}"
export OVERLAY_SCREENSHOT="${OVERLAY_SCREENSHOT:-$repo/target/overlay-screenshot.png}"
export CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"

step() { printf '== %s\n' "$*"; }

# Another process may hold apt's lock (unattended upgrades, a parallel
# install): wait for it rather than fail. The package lists are fetched
# only when the packages are not found in them.
apt_install() {
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    local apt=(timeout 600 $sudo env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=120)
    if ! "${apt[@]}" install -y -qq --no-install-recommends "$@"; then
        "${apt[@]}" update -qq
        "${apt[@]}" install -y -qq --no-install-recommends "$@"
    fi
}

missing=()
[ -x "$CHROMIUM" ] || missing+=(chromium)
# Chinese nicknames and chat need a CJK font, or the screenshot shows boxes.
fc-list 2>/dev/null | grep -qi 'wqy\|noto sans cjk' || missing+=(fonts-wqy-microhei)
if [ "${#missing[@]}" -gt 0 ]; then
    step "installing ${missing[*]}"
    apt_install "${missing[@]}"
fi
command -v node >/dev/null || { echo "node (20 or later) is needed" >&2; exit 1; }

cd "$here"
# npm ci starts from nothing each time: only when the installed version is
# not the locked one.
locked="$(node -p 'require("./package-lock.json").packages["node_modules/playwright-core"].version')"
installed="$(node -p 'try { require("./node_modules/playwright-core/package.json").version } catch { "" }')"
if [ "$locked" != "$installed" ]; then
    step "npm ci"
    timeout 300 npm ci --no-audit --no-fund --loglevel=error
fi

# A no-op when CI (or a developer) has built it already; never a stale binary.
if command -v cargo >/dev/null; then
    step "cargo build -p douyu-host --locked"
    (cd "$repo" && timeout 1800 nice -n 10 cargo build -q -p douyu-host --locked)
fi
[ -x "$DOUYU" ] || { echo "no douyu binary at $DOUYU" >&2; exit 1; }

step "browser tests ($("$CHROMIUM" --version 2>/dev/null || echo chromium), $DOUYU)"
mkdir -p "$(dirname "$OVERLAY_SCREENSHOT")"
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
status=0
timeout --kill-after=10 180 node --test --test-concurrency=1 --test-reporter=tap overlay.test.mjs \
    >"$log" 2>&1 || status=$?
# The TAP summary and every failure, in full; the rest of a passing run is noise.
if [ "$status" -ne 0 ]; then
    cat "$log"
else
    grep -E '^(ok|not ok) |^# (tests|pass|fail|duration_ms) ' "$log" || true
fi
grep -E '^# (THROUGHPUT|SCREENSHOT) ' "$log" | sed 's/^# //' || true
passed="$(sed -n 's/^# pass \([0-9]*\)$/\1/p' "$log" | tail -1)"
failed="$(sed -n 's/^# fail \([0-9]*\)$/\1/p' "$log" | tail -1)"
echo "overlay: ${passed:-0} passed, ${failed:-0} failed"
if [ "$status" -ne 0 ]; then
    [ "$status" -eq 124 ] && echo "the browser tests timed out" >&2
    exit 1
fi
