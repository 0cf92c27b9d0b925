#!/usr/bin/env bash
# The `douyu collect` tests against a real nats-server (Debian's package),
# installed here if it is missing. Unlike a plain `cargo test`, a missing
# nats-server is a failure here, not a skip (DOUYU_REQUIRE_NATS=1).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v nats-server >/dev/null 2>&1; then
    echo "collect-tests: installing nats-server" >&2
    if [ "$(id -u)" -eq 0 ]; then sudo=""; else sudo="sudo"; fi
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq nats-server
fi
nats-server --version >&2

DOUYU_REQUIRE_NATS=1 cargo test --locked -p douyu-tests --test collect "$@"
