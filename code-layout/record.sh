#!/usr/bin/env bash
# Regenerates code-layout/hot-functions.txt: builds the release binary, runs bench/run.sh's
# workloads (W1–W6, both clients, with and without fsync; a few minutes) against it with
# first_call.c preloaded, and writes the functions that ran, in the compiler's order.
# Release builds link them first (build.rs), so the code a broker runs sits in a few MiB
# instead of across the whole 22 MiB text (code-layout/README.md). Run it after a Rust
# toolchain or dependency upgrade, or when `order.py check` (bench/run.sh prints it) finds
# many of the file's names missing from the binary.
# Usage: code-layout/record.sh [extra BENCH_* variables are passed on to bench/run.sh]
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
OUT="$(mktemp -d)"
cp code-layout/hot-functions.txt "$OUT/previous"
DONE=0 # a failed recording puts the previous order back
trap '[ "$DONE" = 1 ] || cp "$OUT/previous" code-layout/hot-functions.txt; rm -rf "$OUT"' EXIT
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"

# Traced: a build in the compiler's layout (an empty order; the same link argument, so the same
# symbol names as the final build).
: > code-layout/hot-functions.txt
cargo build --release --quiet --bin gregor
cp "$TARGET/release/gregor" "$OUT/gregor"
gcc -O2 -shared -fPIC -o "$OUT/first_call.so" code-layout/first_call.c
code-layout/order.py entries "$OUT/gregor" > "$OUT/entries"
cat > "$OUT/traced" <<WRAP
#!/bin/sh
FIRST_CALL_FUNCS="$OUT/entries" FIRST_CALL_OUT="$OUT/calls" LD_PRELOAD="$OUT/first_call.so" exec "$OUT/gregor" "\$@"
WRAP
chmod +x "$OUT/traced"

BENCH_GREGOR_BIN="$OUT/traced" BENCH_BROKERS="${BENCH_BROKERS:-gregor gregor-nofsync}" \
  BENCH_RUNS="${BENCH_RUNS:-1}" BENCH_RECORDS="${BENCH_RECORDS:-100000}" \
  BENCH_WORKLOADS="${BENCH_WORKLOADS:-W1 W2 W3 W4 W5 W6}" bench/run.sh > "$OUT/bench.log" 2>&1 || {
  tail -20 "$OUT/bench.log" >&2
  exit 1
}
code-layout/order.py order "$OUT/gregor" "$OUT/calls" > "$OUT/order"
cp "$OUT/order" code-layout/hot-functions.txt
DONE=1

# The new order relinks the binary (build.rs watches the file); its names are the traced ones.
cargo build --release --quiet --bin gregor
code-layout/order.py check "$TARGET/release/gregor" code-layout/hot-functions.txt
