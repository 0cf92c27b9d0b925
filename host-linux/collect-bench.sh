#!/usr/bin/env bash
# Benchmark of `douyu collect` (on demand, not a test): messages a second one
# collector publishes to JetStream for N rooms, and its memory.
#
#   bash host-linux/collect-bench.sh [ROOMS] [RATE_PER_ROOM] [SECONDS]
#   bash host-linux/collect-bench.sh 200 50 20      # 200 rooms × 50/s offered
#   bash host-linux/collect-bench.sh 2000 0.2 20    # many quiet rooms: memory per room
#
# Starts nats-server (-js, a temporary store), `douyu serve --simulate RATE
# --rooms 1-ROOMS` and `douyu collect` on 127.0.0.1 (release build), lets the
# collector take every room, then measures over SECONDS: messages stored a
# second (from the collector's status lines), what was offered, drops and
# gaps, and the collector's resident memory (now and peak), also per room.
# Everything runs on this machine: the simulator and nats-server share its
# cores with the collector, so the figure is a floor for the collector alone.
set -euo pipefail
cd "$(dirname "$0")/.."
rooms=${1:-200}
rate=${2:-50}
secs=${3:-20}

command -v nats-server >/dev/null || { echo "nats-server is not installed" >&2; exit 2; }
cargo build --release --locked -p douyu-host >&2
bin=target/release/douyu
tmp=$(mktemp -d)
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
nats_port=$(free_port)
douyu_port=$(free_port)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT

nats-server -js -a 127.0.0.1 -p "$nats_port" -sd "$tmp/js" >"$tmp/nats.log" 2>&1 &
pids+=($!)
"$bin" serve --tcp "127.0.0.1:$douyu_port" --simulate "$rate" --rooms "1-$rooms" \
    --max-per-ip 1000000 --connect-rate 0 >"$tmp/serve.log" 2>&1 &
pids+=($!)
sleep 1
RUST_LOG=info,async_nats=warn "$bin" collect --rooms "1-$rooms" --server "tcp://127.0.0.1:$douyu_port" \
    --nats "nats://127.0.0.1:$nats_port" --stream BENCH --status-every 1 >"$tmp/collect.log" 2>&1 &
collector=$!
pids+=("$collector")

field() { grep ' status ' "$tmp/collect.log" | tail -1 | grep -o "$1=[0-9]*" | cut -d= -f2; }
started=$(date +%s)
until grep -q "status rooms=$rooms " "$tmp/collect.log"; do
    if (( $(date +%s) - started > 120 )); then
        echo "the collector did not take every room in 120 s" >&2
        tail -20 "$tmp/collect.log" >&2
        exit 1
    fi
    sleep 0.5
done
sleep 3 # warm-up: sessions joined, stream files open
s1=$(field stored); d1=$(field duplicates); t1=$(date +%s.%N)
sleep "$secs"
s2=$(field stored); d2=$(field duplicates); t2=$(date +%s.%N)
rss=$(awk '/^VmRSS/ {print $2}' "/proc/$collector/status")
hwm=$(awk '/^VmHWM/ {print $2}' "/proc/$collector/status")
cpu=$(awk '{print $14 + $15}' "/proc/$collector/stat")
ticks=$(getconf CLK_TCK)
awk -v rooms="$rooms" -v rate="$rate" -v s1="$s1" -v s2="$s2" -v d1="$d1" -v d2="$d2" \
    -v t1="$t1" -v t2="$t2" -v rss="$rss" -v hwm="$hwm" -v cpu="$cpu" -v ticks="$ticks" \
    -v dropped="$(field dropped)" -v gaps="$(field gaps)" -v buffered="$(field buffered)" 'BEGIN {
    span = t2 - t1
    printf "rooms %d, offered %.0f msg/s (%s a room)\n", rooms, rooms * rate, rate
    printf "stored %.0f msg/s over %.1f s (%d duplicates)\n", (s2 - s1 + d2 - d1) / span, span, d2 - d1
    printf "dropped %d, gaps %d, buffered now %d B\n", dropped, gaps, buffered
    printf "collector RSS %.1f MiB (peak %.1f MiB): %.1f KiB a room; CPU %.1f s in all\n", \
        rss / 1024, hwm / 1024, rss / rooms, cpu / ticks
}'
