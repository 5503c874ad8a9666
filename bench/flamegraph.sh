#!/usr/bin/env bash
# Flamegraphs of the gregor broker's CPU while it serves W1 (1 KiB records produced with acks=all,
# by ProducerPerformance and by franz-go) and W4 (franz-go consuming them back): perf samples
# of the broker (cpu-clock, call stacks unwound from the release binary's .eh_frame, so no
# special build is needed), folded and drawn as SVG by inferno (cargo-installed once into
# ~/.cache/gregor/tools). Needs perf (Debian's linux-perf).
#
#   bench/flamegraph.sh [OUTDIR]        (default bench/flamegraphs/<label>)
#
# BENCH_GREGOR_BIN picks the binary (else a release build, as bench/run.sh), BENCH_RECORDS the
# records per workload (default 1,000,000), BENCH_LABEL the name in titles and the default
# OUTDIR (default the checkout's short commit), BENCH_FSYNC always|never (default always). Writes
# w1-java.svg, w1-franz.svg, w4-franz.svg; their folded stacks (for inferno-diff-folded between
# two builds) stay in BENCH_OUT (default ~/.cache/gregor/bench-results/flame-<time>). Not part
# of CI.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
. "$HERE/lib.sh"
RECORDS="${BENCH_RECORDS:-1000000}"
OUT="${BENCH_OUT:-$CACHE/bench-results/flame-$(date -u +%Y%m%dT%H%M%SZ)}"
# What the titles call the binary (BENCH_LABEL, default this checkout's commit).
LABEL="${BENCH_LABEL:-$(git -C "$ROOT" rev-parse --short HEAD)}"
SVG_DIR="${1:-$ROOT/bench/flamegraphs/$LABEL}"
TOOLS="$CACHE/tools"

command -v perf >/dev/null || { log "perf is missing (apt-get install linux-perf)"; exit 1; }
[ -x "$TOOLS/bin/inferno-flamegraph" ] || {
  log "installing inferno into $TOOLS"
  cargo install --quiet --root "$TOOLS" inferno
}
bench_init
mkdir -p "$SVG_DIR"
BROKER=gregor
[ "${BENCH_FSYNC:-always}" = never ] && BROKER=gregor-nofsync
start_broker
log "$BROKER ($GREGOR) on $BOOT; SVGs into $SVG_DIR"

# Samples the broker while the command runs, then draws them.
profiled() { # name title command...
  local name="$1" title="$2" perf_pid
  shift 2
  perf record -q -e cpu-clock -F 499 --call-graph dwarf,16384 -p "$GPID" -o "$OUT/$name.data" \
    2>>"$OUT/perf.log" &
  perf_pid=$!
  sleep 0.5 # perf attached
  "$@" >>"$OUT/clients.log"
  kill -INT "$perf_pid"
  wait "$perf_pid" || true
  perf script -i "$OUT/$name.data" 2>/dev/null | "$TOOLS/bin/inferno-collapse-perf" >"$OUT/$name.folded"
  "$TOOLS/bin/inferno-flamegraph" --title "$title" --width 1600 <"$OUT/$name.folded" >"$SVG_DIR/$name.svg"
  rm -f "$OUT/$name.data"
  # cpu-clock samples are weighted by their period (ns): the sum is the broker's CPU time.
  log "$name.svg: $(awk '{s += $NF} END {printf "%.2f", s / 1e9}' "$OUT/$name.folded") broker CPU-s sampled"
}

create w1 8
profiled w1-java "gregor $LABEL ($BROKER): W1, ProducerPerformance, $RECORDS x 1 KiB, acks=all" \
  java_tool ProducerPerformance --topic w1 --num-records "$RECORDS" --record-size 1024 \
  --throughput -1 --producer-props bootstrap.servers="$BOOT" acks=all linger.ms=5 batch.size=1048576
create w1f 8
profiled w1-franz "gregor $LABEL ($BROKER): W1, franz-go, $RECORDS x 1 KiB, acks=all" \
  "$FRANZ" produce -topic w1f -records "$RECORDS" -size 1024 -brokers "$BOOT"
profiled w4-franz "gregor $LABEL ($BROKER): W4, franz-go consuming $RECORDS x 1 KiB" \
  "$FRANZ" consume -topic w1f -records "$RECORDS" -brokers "$BOOT"
stop_broker
