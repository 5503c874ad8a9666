#!/usr/bin/env bash
# Runs every fuzz target (fuzz/fuzz_targets) for FUZZ_SECONDS each (default 20) with cargo-fuzz
# on the nightly toolchain, from the committed corpus fuzz/corpus/<target>. New inputs go to a
# scratch corpus outside the clone; a crash writes its input to fuzz/artifacts/<target>/ and
# fails the run (commit that input to the corpus once fixed: `cargo test` replays it).
#   scripts/fuzz.sh [TARGET...]      FUZZ_SECONDS=300 scripts/fuzz.sh decode_request
set -euo pipefail
cd "$(dirname "$0")/.."
CACHE_ROOT="${CACHE_ROOT:-$HOME/.cache/gregor}"
SECONDS_EACH="${FUZZ_SECONDS:-20}"
# Its own target dir: the fuzz build uses sanitizer flags, which would invalidate the main one.
export CARGO_TARGET_DIR="$CACHE_ROOT/fuzz-target"

if ! cargo +nightly --version >/dev/null 2>&1; then
  echo "fuzz: the nightly toolchain is missing (rustup toolchain list); cargo-fuzz needs it" >&2
  exit 1
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "== cargo install cargo-fuzz"
  cargo install --quiet --locked cargo-fuzz
fi

targets=("$@")
[ ${#targets[@]} -gt 0 ] || mapfile -t targets < <(ls fuzz/fuzz_targets | sed 's/\.rs$//')
for t in "${targets[@]}"; do
  scratch="$CACHE_ROOT/fuzz-corpus/$t"
  mkdir -p "$scratch" "fuzz/corpus/$t"
  echo "== fuzz $t (${SECONDS_EACH}s)"
  log="$CACHE_ROOT/fuzz-$t.log"
  if ! cargo +nightly fuzz run --fuzz-dir fuzz "$t" "$scratch" "fuzz/corpus/$t" -- \
      -max_total_time="$SECONDS_EACH" -rss_limit_mb=2048 -malloc_limit_mb=512 \
      -print_final_stats=1 >"$log" 2>&1; then
    tail -n 60 "$log"
    echo "fuzz: $t failed (log $log); the input is in fuzz/artifacts/$t/" >&2
    exit 1
  fi
  grep -E 'Done [0-9]+ runs|stat::number_of_executed_units' "$log" | tail -n 2
done
