#!/usr/bin/env bash
# franz-go's W4 (consume 2M × 1 KiB records from 8 partitions, twice) on gregor builds side by
# side, each on a fresh broker, the order rotated every round so no build always runs first
# (page cache, writeback and CPU frequency favour whichever comes at the same point each time).
# Prints one line per consume: build, pass, MiB/s, the broker's CPU ticks during it; then the
# means over every round but the first (warm-up).
#   W4_BINS="before=/path/gregor-a after=/path/gregor-b" [W4_ROUNDS=6] bench/w4-rotate.sh
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROUNDS="${W4_ROUNDS:-6}" PORT="${W4_PORT:-19991}" RECORDS="${W4_RECORDS:-2000000}"
declare -A BIN
names=()
for kv in ${W4_BINS:?W4_BINS=\"name=binary ...\"}; do BIN[${kv%%=*}]="${kv#*=}"; names+=("${kv%%=*}"); done
FRANZ="$(mktemp -d)/franz"
(cd "$HERE/franz" && go build -o "$FRANZ" .)
OUT="$(mktemp)"
one() { # name
  local data; data="$(mktemp -d)"
  "${BIN[$1]}" --listen "127.0.0.1:$PORT" --data-dir "$data" --log warn &
  local pid=$! k t0 t1 out
  until (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; do sleep 0.01; done
  "$FRANZ" create -brokers "127.0.0.1:$PORT" -topic w1f -partitions 8 >/dev/null
  "$FRANZ" produce -brokers "127.0.0.1:$PORT" -topic w1f -records "$RECORDS" -size 1024 >/dev/null
  sync; sleep 1
  for k in 1 2; do
    t0=$(awk '{print $14 + $15}' "/proc/$pid/stat")
    out=$("$FRANZ" consume -brokers "127.0.0.1:$PORT" -topic w1f -records "$RECORDS")
    t1=$(awk '{print $14 + $15}' "/proc/$pid/stat")
    echo "$ROUND $1 $k $(echo "$out" | grep -o 'mibps=[0-9.]*' | cut -d= -f2) $((t1 - t0))" | tee -a "$OUT"
  done
  kill "$pid"; wait "$pid" 2>/dev/null || true
  rm -rf "$data"
}
n=${#names[@]}
for ROUND in $(seq 1 "$ROUNDS"); do
  for i in $(seq 0 $((n - 1))); do one "${names[$(( (i + ROUND) % n ))]}"; done
done
echo "means over rounds 2-$ROUNDS (MiB/s, broker CPU ticks per consume):"
awk '$1 > 1 { m[$2] += $4; c[$2] += $5; k[$2]++ } END { for (b in m) printf "  %s %.1f MiB/s %.1f ticks (n=%d)\n", b, m[b] / k[b], c[b] / k[b], k[b] }' "$OUT"
