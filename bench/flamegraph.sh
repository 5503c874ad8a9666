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
#
# BENCH_PERF_SCOPE=machine samples both CPUs instead of the broker alone (w1-java-machine.svg,
# ...): the graph's first level is the process (the client's JVM or franz-go, gregor, swapper:
# idle), the second the thread, so it shows where the machine's time goes when a client, not
# the broker, is the limit. Java frames stay unnamed (JIT code); the process split is the point.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
. "$HERE/lib.sh"
RECORDS="${BENCH_RECORDS:-1000000}"
OUT="${BENCH_OUT:-$CACHE/bench-results/flame-$(date -u +%Y%m%dT%H%M%SZ)}"
# What the titles call the binary (BENCH_LABEL, default this checkout's commit).
LABEL="${BENCH_LABEL:-$(git -C "$ROOT" rev-parse --short HEAD)}"
SVG_DIR="${1:-$ROOT/bench/flamegraphs/$LABEL}"
case "${BENCH_PERF_SCOPE:-broker}" in
  broker) SUFFIX= ;;
  machine) SUFFIX=-machine ;;
  *) log "BENCH_PERF_SCOPE is broker or machine"; exit 1 ;;
esac
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

# Samples the broker (or the machine) while the command runs, then draws them.
profiled() { # name title command...
  local name="$1$SUFFIX" title="$2" perf_pid client snapshot= target=(-p "$GPID") minwidth=()
  shift 2
  # The machine's graphs: frames under 0.5 px left out (the JVM's unnamed frames make MBs).
  [ -z "$SUFFIX" ] || { target=(-a) title="$title, both CPUs" minwidth=(--minwidth 0.5); }
  perf record -q -e cpu-clock -F 499 --call-graph dwarf,16384 "${target[@]}" \
    -o "$OUT/$name.data" 2>>"$OUT/perf.log" &
  perf_pid=$!
  sleep 0.5 # perf attached
  "$@" >>"$OUT/clients.log" &
  client=$!
  # The machine's graph names processes by id: a snapshot once the client has started (in the
  # background, so that sampling stops when the client does).
  if [ -n "$SUFFIX" ]; then
    { sleep 0.3; ps -eo pid=,comm= >"$OUT/$name.ps"; } &
    snapshot=$!
  fi
  wait "$client"
  kill -INT "$perf_pid"
  wait "$perf_pid" || true
  [ -z "$snapshot" ] || wait "$snapshot"
  if [ -z "$SUFFIX" ]; then
    stacks "$OUT/$name.data"
  else
    stacks "$OUT/$name.data" --pid | by_process "$OUT/$name.ps"
  fi >"$OUT/$name.folded"
  "$TOOLS/bin/inferno-flamegraph" --title "$title" --width 1600 "${minwidth[@]}" <"$OUT/$name.folded" \
    >"$SVG_DIR/$name.svg"
  rm -f "$OUT/$name.data"
  # cpu-clock samples are weighted by their period (ns): the sums are CPU time.
  log "$name.svg: CPU-s sampled: $(awk -F';' '{n = split($NF, w, " "); s[$1] += w[n]} END {
    for (p in s) printf "%.2f\t%s\n", s[p] / 1e9, p}' "$OUT/$name.folded" |
    sort -rn | head -4 | awk -F'\t' '{printf "%s %s  ", $2, $1}')"
}

# perf's samples folded into stacks (collapse-perf's options after the data file).
stacks() { # perf.data [collapse options]
  perf script -i "$1" -F comm,pid,tid,time,period,event,ip,sym,dso 2>/dev/null |
    "$TOOLS/bin/inferno-collapse-perf" "${@:2}"
}

# Stacks whose first frame is "<thread>-<pid>" (collapse-perf --pid) → the process's name, then
# the thread, then the rest.
by_process() { # ps snapshot
  awk 'NR == FNR { $1 = $1; p = $1; sub(/^[0-9]+ /, ""); proc[p] = $0; next }
    { i = index($0, ";"); head = substr($0, 1, i - 1); rest = substr($0, i)
      pid = head; sub(/.*-/, "", pid); thread = head; sub(/-[0-9]+$/, "", thread)
      p = (pid in proc) ? proc[pid] : (pid == 0 ? "swapper (idle)" : thread)
      print p ";" thread rest }' "$1" -
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
