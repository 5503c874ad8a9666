#!/usr/bin/env bash
# Start-up after kill -9 with a large log (issue 18): BENCH_RECOVERY_GB of 1 KiB records in
# segments of BENCH_RECOVERY_SEGMENT_MB, then gregor killed with kill -9 and started again,
# timed from exec to its listening port (partitions are opened, recovered and their producer
# state loaded before it listens), then the same after a clean shutdown. Not part of CI.
#
#   BENCH_RECOVERY_GB=10  BENCH_RECOVERY_SEGMENT_MB=10  BENCH_RECOVERY_PARTITIONS=1
#   BENCH_GREGOR_BIN (else the release build)  BENCH_GREGOR_PORT=19192
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(dirname "$HERE")"
CACHE="${CACHE_ROOT:-$HOME/.cache/gregor}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$CACHE/target}"
GB="${BENCH_RECOVERY_GB:-10}"
SEGMENT_MB="${BENCH_RECOVERY_SEGMENT_MB:-10}"
PARTITIONS="${BENCH_RECOVERY_PARTITIONS:-1}"
PORT="${BENCH_GREGOR_PORT:-19192}"
log() { echo "[recovery $(date -u +%H:%M:%S)] $*" >&2; }

GREGOR="${BENCH_GREGOR_BIN:-}"
if [ -z "$GREGOR" ]; then
  log "building gregor (release)"
  cargo build --release --quiet --bin gregor --manifest-path "$ROOT/Cargo.toml"
  GREGOR="$CARGO_TARGET_DIR/release/gregor"
fi
FRANZ="$(mktemp -d)/gregor-bench-franz"
(cd "$HERE/franz" && go build -o "$FRANZ" .)
DATA="$(mktemp -d "$CACHE/recovery-data.XXXXXX")"
PID=
cleanup() {
  [ -z "$PID" ] || kill -9 "$PID" 2>/dev/null || true
  rm -rf "$DATA" "$(dirname "$FRANZ")"
}
trap cleanup EXIT

# Start gregor; STARTED_MS: the milliseconds from exec to its listening port.
start() {
  local t0; t0=$(date +%s%N)
  "$GREGOR" --listen "127.0.0.1:$PORT" --data-dir "$DATA" --log warn --fsync never \
    --segment-bytes $((SEGMENT_MB << 20)) >/dev/null &
  PID=$!
  until (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; do sleep 0.001; done
  STARTED_MS=$(( ($(date +%s%N) - t0) / 1000000 ))
}

start
"$FRANZ" create -brokers "127.0.0.1:$PORT" -topic recovery -partitions "$PARTITIONS" >/dev/null
records=$((GB * 1024 * 1024))
log "writing $GB GiB ($records records of 1 KiB) in $SEGMENT_MB MiB segments"
"$FRANZ" produce -brokers "127.0.0.1:$PORT" -topic recovery -records "$records" -size 1024 >/dev/null
segments=$(find "$DATA" -name '*.log' | wc -l)
bytes=$(du -sb "$DATA" | cut -f1)
sync
kill -9 "$PID"; wait "$PID" 2>/dev/null || true; PID=
start; after_kill=$STARTED_MS
kill -TERM "$PID"; wait "$PID" 2>/dev/null || true; PID=
start; after_clean=$STARTED_MS
# A produce after the restart lands at the end (the log and producer state are usable).
"$FRANZ" produce -brokers "127.0.0.1:$PORT" -topic recovery -records 1000 -size 1024 >/dev/null
echo "| log | segments | start-up after kill -9 | start-up after a clean shutdown |"
echo "|---|---|---|---|"
echo "| $(echo "scale=1; $bytes / 1073741824" | bc) GiB | $segments | ${after_kill} ms | ${after_clean} ms |"
