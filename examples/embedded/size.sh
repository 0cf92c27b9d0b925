#!/usr/bin/env bash
# Builds the example for thumbv7em-none-eabihf (opt-level "z", LTO) and
# prints its flash and static RAM footprint.
set -euo pipefail
cd "$(dirname "$0")"
rustup target add thumbv7em-none-eabihf >/dev/null
cargo build --release --locked
elf=target/thumbv7em-none-eabihf/release/douyu-embedded-example
section() {
  local hex
  hex=$(readelf -S -W "$elf" | awk -v name="$1" '{ for (i = 1; i < NF; i++) if ($i == name) print $(i + 4) }')
  echo $(( 16#${hex:-0} ))
}
text=$(section .text); rodata=$(section .rodata); data=$(section .data); bss=$(section .bss)
echo "flash: .text ${text} B, .rodata ${rodata} B"
echo "static RAM: .data ${data:-0} B + .bss ${bss} B (of which 2048 B receive buffer, 256 B transmit buffer)"
echo "RAM besides the receive buffer: $(( ${data:-0} + bss - 2048 )) B"
