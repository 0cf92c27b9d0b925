#!/usr/bin/env bash
# Builds the firmware and runs it under QEMU (mps2-an386) against a Douyu
# server, with UART0 wired to the server over TCP.
#
#   run.sh --build-only [--async]
#   run.sh --server HOST:PORT --room ROOM --seconds S [--heartbeat SECS] [--async]
#
# Prints the firmware's output and ends with exactly one `summary:` line;
# exits 0 after a clean logout, non-zero otherwise.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

usage() {
  sed -n '5,6p' "$0" | sed 's/^# *//' >&2
  exit 2
}

bin=douyu-blocking build_only=0 server='' room='' seconds='' heartbeat=''
while [ $# -gt 0 ]; do
  case "$1" in
    --build-only) build_only=1 ;;
    --async) bin=douyu-async ;;
    --server) server=${2:?}; shift ;;
    --room) room=${2:?}; shift ;;
    --seconds) seconds=${2:?}; shift ;;
    --heartbeat) heartbeat=${2:?}; shift ;;
    -h|--help) usage ;;
    *) echo "run.sh: unknown argument $1" >&2; usage ;;
  esac
  shift
done

elf="$here/target/thumbv7em-none-eabihf/release/$bin"
# Source paths reach the image (the locations of panics the optimiser could
# not rule out): remapped, so that the image and its size do not depend on
# where the clone or cargo's registry happen to be (test.sh compares sizes
# with a checked-in snapshot).
root=$(cd "$here/.." && pwd)
remap="[\"--remap-path-prefix=$root=/douyu\", \"--remap-path-prefix=${CARGO_HOME:-$HOME/.cargo}=/cargo\"]"
# Quiet unless it fails: the firmware's output is what this prints.
if ! out=$(cd "$here" && nice -n 10 cargo build --release --locked --bin "$bin" \
  --config "target.thumbv7em-none-eabihf.rustflags=$remap" 2>&1); then
  printf '%s\n' "$out" >&2
  exit 1
fi
if [ "$build_only" = 1 ]; then
  echo "built $elf"
  exit 0
fi
[ -n "$server" ] && [ -n "$room" ] && [ -n "$seconds" ] || usage
for n in "$room" "$seconds" ${heartbeat:+"$heartbeat"}; do
  [[ "$n" =~ ^[0-9]+$ ]] || { echo "run.sh: not a number: $n" >&2; exit 2; }
done

args="arg=douyu,arg=room=$room,arg=seconds=$seconds${heartbeat:+,arg=heartbeat=$heartbeat}"
# The device logs out after S seconds of its own time; the dead-link window
# (two heartbeats) can only end it sooner. The margin covers boot and a
# slow machine, and bounds a firmware that hangs.
limit=$((seconds + 30))
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
# UART0 on a TCP client socket (stdio would mangle binary bytes); console
# and exit status through semihosting, whose output QEMU writes to stderr.
timeout --kill-after=5 "$limit" qemu-system-arm \
  -M mps2-an386 -cpu cortex-m4 \
  -display none -monitor none -parallel none \
  -serial "tcp:$server,nodelay=on" \
  -semihosting-config "enable=on,target=native,$args" \
  -kernel "$elf" >"$log" 2>&1 || status=$?

grep -v '^summary: ' "$log" || true
summary=$(grep '^summary: ' "$log" | tail -n 1 || true)
if [ -z "$summary" ]; then
  [ "$status" = 124 ] && echo "run.sh: QEMU stopped after ${limit} s" >&2
  summary="summary: loginres=0 joined=0 chatmsg=0 other=0 heartbeats=0 errors=1 logout=0"
  [ "$status" = 0 ] && status=1
fi
echo "$summary"
exit "$status"
