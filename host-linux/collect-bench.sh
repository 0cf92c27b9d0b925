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
# gaps, the collector's CPU in the window (so messages a second per core),
# the publish->ack latency from its /metrics histogram (p50, p99 as bucket
# bounds), and its resident memory (now and peak), also per room.
# Everything runs on this machine: the simulator and nats-server share its
# cores with the collector, so the figure is a floor for the collector alone.
# Then, with the collector stopped, benches/collect_floors.rs measures the
# floors under it against the same simulator and nats-server, in CPU time a
# message: reading the rooms alone, reading and publishing at once without
# the collector's own work between, and publishing alone.
set -euo pipefail
cd "$(dirname "$0")/.."
rooms=${1:-200}
rate=${2:-50}
secs=${3:-20}

command -v nats-server >/dev/null || { echo "nats-server is not installed" >&2; exit 2; }
# COLLECT_ARGS="--read-pause 0": more options for the collector.
# PROBE=1: the simulator sends chat lines carrying their send time, and
# collect-latency.py measures, over the window, how long after it each was
# read and published (its own load on the machine makes that run's CPU
# figures no match for a run without it).
# DOUYU=path: measure that binary instead (e.g. an older build, to compare).
# FLOORS=0: skip the floors (benches/collect_floors.rs) run after the
# collector: what reading and publishing cost a message without its work.
if [ -n "${DOUYU:-}" ]; then
    bin=$DOUYU
else
    cargo build --release --locked -p douyu-host >&2
    bin=target/release/douyu
fi
tmp=$(mktemp -d)
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
nats_port=$(free_port)
douyu_port=$(free_port)
http_port=$(free_port)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT

nats-server -js -a 127.0.0.1 -p "$nats_port" -sd "$tmp/js" >"$tmp/nats.log" 2>&1 &
pids+=($!)
probe_args=()
if [ -n "${PROBE:-}" ]; then probe_args=(--probe); fi
"$bin" serve --tcp "127.0.0.1:$douyu_port" --simulate "$rate" --rooms "1-$rooms" \
    --max-per-ip 1000000 --connect-rate 0 "${probe_args[@]}" >"$tmp/serve.log" 2>&1 &
pids+=($!)
sleep 1
# /metrics (ack latency) if this binary has it: an older one may not.
http_args=()
if "$bin" collect --help | grep -q -- '--http'; then http_args=(--http "127.0.0.1:$http_port"); fi
RUST_LOG=info,async_nats=warn "$bin" collect --rooms "1-$rooms" --server "tcp://127.0.0.1:$douyu_port" \
    --nats "nats://127.0.0.1:$nats_port" --stream BENCH --status-every 1 \
    "${http_args[@]}" ${COLLECT_ARGS:-} >"$tmp/collect.log" 2>&1 &
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
metrics() { [ ${#http_args[@]} -gt 0 ] || return 0; python3 -c 'import sys, urllib.request; sys.stdout.write(urllib.request.urlopen(sys.argv[1], timeout=10).read().decode())' "http://127.0.0.1:$http_port/metrics"; }
cpu_now() { awk '{print $14 + $15}' "/proc/$collector/stat"; }
s1=$(field stored); d1=$(field duplicates); t1=$(date +%s.%N); c1=$(cpu_now)
metrics >"$tmp/metrics1"
if [ -n "${PROBE:-}" ]; then
    python3 host-linux/collect-latency.py "nats://127.0.0.1:$nats_port" "$secs" >"$tmp/latency" &
    prober=$!
fi
sleep "$secs"
s2=$(field stored); d2=$(field duplicates); t2=$(date +%s.%N); c2=$(cpu_now)
metrics >"$tmp/metrics2"
# The ack latency over the window: the histogram's buckets at its end less
# those at its start; a percentile is the upper bound of its bucket.
latency=$(awk '
    /^douyu_collect_publish_ack_seconds_bucket/ {
        match($0, /le="[^"]*"/); le = substr($0, RSTART + 4, RLENGTH - 5)
        if (FILENAME == ARGV[1]) { before[le] = $2 } else { n++; les[n] = le; after[le] = $2 }
    }
    /^douyu_collect_publish_ack_seconds_sum/ { if (FILENAME == ARGV[1]) s1 = $2; else s2 = $2 }
    END {
        total = after["+Inf"] - before["+Inf"]
        if (n == 0) { print "publish->ack: not measured (no /metrics in this binary)"; exit }
        if (total <= 0) { print "no acks in the window"; exit }
        for (i = 1; i <= n; i++) {
            c = after[les[i]] - before[les[i]]
            if (!p50 && c >= total * 0.50) p50 = les[i]
            if (!p99 && c >= total * 0.99) p99 = les[i]
        }
        printf "publish->ack over %d acks: mean %.2f ms, p50 <= %s s, p99 <= %s s", total, (s2 - s1) / total * 1000, p50, p99
    }' "$tmp/metrics1" "$tmp/metrics2")
rss=$(awk '/^VmRSS/ {print $2}' "/proc/$collector/status")
hwm=$(awk '/^VmHWM/ {print $2}' "/proc/$collector/status")
cpu=$(cpu_now)
ticks=$(getconf CLK_TCK)
awk -v rooms="$rooms" -v rate="$rate" -v s1="$s1" -v s2="$s2" -v d1="$d1" -v d2="$d2" \
    -v t1="$t1" -v t2="$t2" -v rss="$rss" -v hwm="$hwm" -v cpu="$cpu" -v ticks="$ticks" \
    -v c1="$c1" -v c2="$c2" -v latency="$latency" \
    -v dropped="$(field dropped)" -v gaps="$(field gaps)" -v buffered="$(field buffered)" 'BEGIN {
    span = t2 - t1
    printf "rooms %d, offered %.0f msg/s (%s a room)\n", rooms, rooms * rate, rate
    printf "stored %.0f msg/s over %.1f s (%d duplicates)\n", (s2 - s1 + d2 - d1) / span, span, d2 - d1
    printf "dropped %d, gaps %d, buffered now %d B\n", dropped, gaps, buffered
    busy = (c2 - c1) / ticks
    printf "collector CPU %.2f s in the window (%.2f cores): %.0f msg/s per core (%.2f µs a message)\n", \
        busy, busy / span, (busy > 0 ? (s2 - s1 + d2 - d1) / busy : 0), \
        (s2 - s1 + d2 - d1 > 0 ? busy * 1e6 / (s2 - s1 + d2 - d1) : 0)
    print latency
    printf "collector RSS %.1f MiB (peak %.1f MiB): %.1f KiB a room; CPU %.1f s in all\n", \
        rss / 1024, hwm / 1024, rss / rooms, cpu / ticks
}'
if [ -n "${PROBE:-}" ]; then
    wait "$prober"
    cat "$tmp/latency"
fi
# The floors, against the same simulator and nats-server once the collector
# is gone (benches/collect_floors.rs).
# They are built from this tree, whatever DOUYU names, and take the
# collector's --read-pause and --in-flight from COLLECT_ARGS.
if [ "${FLOORS:-1}" != 0 ]; then
    kill "$collector"
    wait "$collector" 2>/dev/null || true
    floor_args=()
    set -- ${COLLECT_ARGS:-}
    while [ $# -gt 0 ]; do
        case $1 in
            --read-pause|--in-flight) floor_args+=("$1" "${2:?}"); shift ;;
        esac
        shift
    done
    cargo bench --locked -q -p douyu-host --bench collect_floors -- \
        --server "tcp://127.0.0.1:$douyu_port" --rooms "$rooms" --rate "$rate" \
        --nats "nats://127.0.0.1:$nats_port" --window "$secs" "${floor_args[@]}"
fi
