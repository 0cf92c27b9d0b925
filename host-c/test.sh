#!/usr/bin/env bash
# The C ABI tested from C: builds libdouyu, checks the checked-in header is
# what cbindgen generates, compiles tests/api.c (NULLs, bounds, outputs on
# success only), tests/vectors.c and tests/session.c with
# the system compiler under AddressSanitizer and UndefinedBehaviorSanitizer
# (against the static library; vectors.c against the shared one too), runs
# every conformance vector through them and a client session over TCP
# against `douyu serve --simulate` on 127.0.0.1. Exits non-zero on any
# failure. Run from anywhere; installs what it needs on a fresh Debian.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
vectors=${DOUYU_VECTORS:-$root/../shared/vectors}
target=${CARGO_TARGET_DIR:-$root/target}
out=$target/host-c-tests
cd "$root"
started=$SECONDS

step() { printf '== %s\n' "$*"; }

# The compiler and python3 (the vector converter); installed when missing.
missing=()
command -v cc >/dev/null || missing+=(gcc libc6-dev)
command -v python3 >/dev/null || missing+=(python3)
if ((${#missing[@]})); then
    step "installing ${missing[*]}"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

step "building libdouyu and the douyu binary"
nice -n 10 cargo build -q -p douyu-c -p douyu-host --locked
lib=$target/debug
[[ -f $lib/libdouyu.a && -f $lib/libdouyu.so && -x $lib/douyu ]] || {
    echo "libdouyu.a, libdouyu.so or douyu missing in $lib" >&2
    exit 1
}

step "checking include/douyu.h against cbindgen"
nice -n 10 cargo test -q -p douyu-c --locked --test header 2>&1 | tail -n 3

step "compiling the C tests with -fsanitize=address,undefined"
mkdir -p "$out"
cflags=(-std=c11 -Wall -Wextra -Werror -g -O1 -fno-omit-frame-pointer
    -fsanitize=address,undefined -fno-sanitize-recover=all -I"$here/include")
# What a Rust static library needs from the system on linux-gnu
# (`--print native-static-libs`).
syslibs=(-lgcc_s -lutil -lrt -lpthread -lm -ldl -lc)
cc "${cflags[@]}" "$here/tests/api.c" "$lib/libdouyu.a" "${syslibs[@]}" -o "$out/api"
cc "${cflags[@]}" "$here/tests/vectors.c" "$lib/libdouyu.a" "${syslibs[@]}" -o "$out/vectors"
cc "${cflags[@]}" "$here/tests/session.c" "$lib/libdouyu.a" "${syslibs[@]}" -o "$out/session"
cc "${cflags[@]}" "$here/tests/vectors.c" -L"$lib" -ldouyu -o "$out/vectors-shared"

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

step "the rules of the boundary"
timeout 60 "$out/api"

step "vectors (static library)"
python3 "$here/tests/vectors_to_lines.py" "$vectors" >"$out/cases.txt"
timeout 60 "$out/vectors" <"$out/cases.txt"
step "vectors (shared library)"
LD_LIBRARY_PATH=$lib timeout 60 "$out/vectors-shared" <"$out/cases.txt"

step "client session against douyu serve"
room=4242
log=$out/serve.log
"$lib/douyu" serve --tcp 127.0.0.1:0 --simulate 50 --room "$room" 2>"$log" &
server=$!
trap 'kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true' EXIT
addr=
for _ in $(seq 100); do
    addr=$(sed -n 's/.*serving TCP addr=\([0-9.:]*\).*/\1/p' "$log" | head -n 1)
    [[ -n $addr ]] && break
    kill -0 "$server" 2>/dev/null || break
    sleep 0.1
done
[[ -n $addr ]] || {
    echo "douyu serve did not start:" >&2
    cat "$log" >&2
    exit 1
}
timeout 60 "$out/session" "$addr" "$room"

printf 'host-c: all passed in %d s\n' $((SECONDS - started))
