#!/usr/bin/env bash
# Scaling curves (issue 22): how gregor's cost grows with scale beside the reference Apache
# Kafka, each broker alone on this machine, a few points per curve. Not part of CI.
#
#   bench/scaling.sh              every curve, default points (~10 minutes on an idle 2-core machine)
#   BENCH_QUICK=1 bench/scaling.sh    tiny points: checks that every curve runs (~10 minutes)
#   BENCH_CURVES="size groups" bench/scaling.sh    some curves
#
# Curves (the franz-go client, bench/franz; 1 KiB records, acks=all, unless said otherwise):
#   partitions   one topic of N partitions on a fresh broker: produce at a fixed rate
#                spread round-robin over all partitions (p50/p99), RSS after it, then kill -9
#                and the time to listen again and to have every partition led (restart)
#   connections  C producer clients at once (each its own connections and producer id) share
#                a fixed number of records as fast as they can: throughput, p99, peak RSS
#   groups       G consumer groups of one member each on one 8-partition topic, started at
#                once, each reading it to the end and committing: broker CPU (the group
#                coordinator's work), join time (start to assignment: p50 and slowest),
#                time until every group is done
#   retained     G GiB in one 8-partition topic (100 MiB segments) on a fresh broker, kill -9,
#                restart (listening, every partition led), the data evicted from the page
#                cache (posix_fadvise DONTNEED per file), then all of it read back (cold read);
#                RSS after the restart and at its peak during the read
#   size         records of S bytes (100 B to 1 MiB), a fixed volume per point: produce
#                throughput and p99, then read back
#
# Environment (points are space-separated lists):
#   BENCH_SCALING_BROKERS="gregor kafka"   BENCH_CURVES="partitions connections groups retained size"
#   BENCH_PARTITIONS_POINTS="1 100 1000 10000"  BENCH_PARTITIONS_RATE=5 (MiB/s)  BENCH_PARTITIONS_SECONDS=10
#   BENCH_CONNECTIONS_POINTS="1 10 100 1000"    BENCH_CONNECTIONS_RECORDS=200000
#   BENCH_GROUPS_POINTS="1 10 100 500"          BENCH_GROUPS_RECORDS=2000 (records each group reads)
#   BENCH_RETAINED_POINTS="1 2 4" (GiB; the issue's 20 GB top point, "1 2 4 20", needs ~45 GB
#     free: both brokers' data plus the page cache's write-back)  BENCH_RETAINED_SEGMENT_MB=100
#   BENCH_SIZE_POINTS="100 1024 10240 102400 1048576"  BENCH_SIZE_MB=256 (MiB produced per point)
#   BENCH_OUT (default ~/.cache/gregor/bench-results/scaling-<UTC time>): raw.tsv, tables.md,
#     <curve>.png;  BENCH_GREGOR_BIN, ports and Kafka variables as for bench/run.sh (lib.sh)
#   BENCH_GREGOR_LABEL (how the conditions line names the gregor build; default its path)
#   BENCH_PLOT_VENV (default ~/.cache/gregor/bench-venv): the venv with matplotlib for the plots
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=bench/lib.sh
. "$HERE/lib.sh"
OUT="${BENCH_OUT:-$CACHE/bench-results/scaling-$(date -u +%Y%m%dT%H%M%SZ)}"
BROKERS="${BENCH_SCALING_BROKERS:-gregor kafka}"
CURVES="${BENCH_CURVES:-partitions connections groups retained size}"
if [ "${BENCH_QUICK:-}" = 1 ]; then
  q_part="1 10 100" q_conn="1 10 50" q_groups="1 5 20" q_ret="0.02 0.05" q_size="100 10240 1048576"
  q_rate=1 q_secs=3 q_crec=20000 q_grec=200 q_smb=16
else
  q_part="1 100 1000 10000" q_conn="1 10 100 1000" q_groups="1 10 100 500" q_ret="1 2 4"
  q_size="100 1024 10240 102400 1048576" q_rate=5 q_secs=10 q_crec=200000 q_grec=2000 q_smb=256
fi
PART_POINTS="${BENCH_PARTITIONS_POINTS:-$q_part}"
PART_RATE="${BENCH_PARTITIONS_RATE:-$q_rate}"
PART_SECONDS="${BENCH_PARTITIONS_SECONDS:-$q_secs}"
CONN_POINTS="${BENCH_CONNECTIONS_POINTS:-$q_conn}"
CONN_RECORDS="${BENCH_CONNECTIONS_RECORDS:-$q_crec}"
GROUP_POINTS="${BENCH_GROUPS_POINTS:-$q_groups}"
GROUP_RECORDS="${BENCH_GROUPS_RECORDS:-$q_grec}"
RET_POINTS="${BENCH_RETAINED_POINTS:-$q_ret}"
RET_SEGMENT_MB="${BENCH_RETAINED_SEGMENT_MB:-100}"
SIZE_POINTS="${BENCH_SIZE_POINTS:-$q_size}"
SIZE_MB="${BENCH_SIZE_MB:-$q_smb}"

# Kafka recovers every partition after kill -9 before it listens: minutes at 10,000.
export COMPAT_KAFKA_START_TIMEOUT="${COMPAT_KAFKA_START_TIMEOUT:-900}"
bench_init
RAW="$OUT/raw.tsv"
: >"$RAW"
# gregor holds at most a quarter of the open-file limit in partitions by default; the
# partitions curve asks for more (one segment, one descriptor each), and groups join at once.
max_parts=0
for n in $PART_POINTS; do [ "$n" -le "$max_parts" ] || max_parts=$n; done
GREGOR_EXTRA_ARGS=(--group-initial-rebalance-delay-ms 0 --max-broker-partitions $((max_parts + 100)))
CURVE='' X=''

put() { printf '%s\t%s\t%s\t%s\t%s\n' "$BROKER" "$CURVE" "$X" "$1" "$2" >>"$RAW"; }

# franz-go's key=value output → raw results (the named keys only).
franz() { # "key key ..." args...
  local keys="$1" line kv
  shift
  line=$("$FRANZ" "$@" -brokers "$BOOT")
  for kv in $line; do
    case " $keys " in *" ${kv%%=*} "*) put "${kv%%=*}" "${kv#*=}" ;; esac
  done
}

ready_ms() { "$FRANZ" ready -brokers "$BOOT" -topic "$1" -partitions "$2" | sed 's/ready_ms=//'; }

# Restart after kill -9: exec to listening, then until every partition of the topic is led.
restart_after_kill9() { # topic partitions
  kill9_broker
  restart_broker
  put restart_listen_ms "$START_MS"
  put restart_ready_ms $((START_MS + $(ready_ms "$1" "$2")))
}

# Drop the broker's files from the page cache (clean pages only: sync first).
evict() {
  sync
  python3 - "$(data_dir)" <<'EOF'
import os, sys
for root, _, files in os.walk(sys.argv[1]):
    for f in files:
        try:
            fd = os.open(os.path.join(root, f), os.O_RDONLY)
        except OSError:
            continue
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)
EOF
}

curve_partitions() {
  local n t0
  for n in $PART_POINTS; do
    X=$n
    log "  partitions $n"
    start_broker
    t0=$(now_ms)
    create "p$n" "$n"
    put create_ms $(($(now_ms) - t0))
    franz "p50_us p99_us" produce -topic "p$n" -records $((PART_RATE * 1024 * PART_SECONDS)) \
      -size 1024 -rate "$PART_RATE" -rr
    put rss_mib "$(mib "$(rss_kib)")"
    restart_after_kill9 "p$n" "$n"
    put rss_after_restart_mib "$(mib "$(rss_kib)")"
    stop_broker
  done
}

curve_connections() {
  local c
  start_broker
  for c in $CONN_POINTS; do
    X=$c
    log "  connections $c"
    create "c$c" 8
    reset_peak
    franz "mibps p50_us p99_us" produce -topic "c$c" -records "$CONN_RECORDS" -size 1024 -conns "$c"
    put peak_rss_mib "$(mib "$(peak_kib)")"
  done
  stop_broker
}

curve_groups() {
  local g before after
  start_broker
  for g in $GROUP_POINTS; do
    X=$g
    log "  groups $g"
    create "g$g" 8
    "$FRANZ" produce -brokers "$BOOT" -topic "g$g" -records "$GROUP_RECORDS" -size 1024 >/dev/null
    reset_peak
    before=$(cpu_ticks)
    franz "join_p50_ms join_max_ms all_done_ms" groups -topic "g$g" -groups "$g" -records "$GROUP_RECORDS"
    after=$(cpu_ticks)
    put broker_cpu_s "$(echo "scale=2; ($after - $before) / $TICK" | bc)"
    put cpu_ms_per_group "$(echo "scale=1; ($after - $before) * 1000 / $TICK / $g" | bc)"
    put peak_rss_mib "$(mib "$(peak_kib)")"
  done
  stop_broker
}

curve_retained() {
  local gb records
  for gb in $RET_POINTS; do
    X=$gb
    log "  retained $gb GiB"
    records=$(echo "$gb * 1048576 / 1" | bc)
    start_broker
    create r 8 "segment.bytes=$((RET_SEGMENT_MB * 1048576))"
    franz "mibps" produce -topic r -records "$records" -size 1024
    put data_gib "$(du -sk "$(data_dir)" | awk '{printf "%.2f", $1 / 1048576}')"
    restart_after_kill9 r 8
    # Memory that grows with the data kept (e.g. sparse indexes held per segment): resident
    # after the restart, and the peak while every record is read back.
    put restart_rss_mib "$(mib "$(rss_kib)")"
    evict
    reset_peak
    # franz's consume reports mibps as "cold_read_mibps" here.
    local line; line=$("$FRANZ" consume -brokers "$BOOT" -topic r -records "$records")
    put cold_read_mibps "$(echo "$line" | sed -E 's/.*mibps=([0-9.]+).*/\1/')"
    put cold_read_peak_rss_mib "$(mib "$(peak_kib)")"
    stop_broker
  done
}

curve_size() {
  local s n
  start_broker
  for s in $SIZE_POINTS; do
    X=$s
    log "  record size $s B"
    n=$((SIZE_MB * 1048576 / s))
    [ "$n" -ge 16 ] || n=16
    # Records up to 1 MiB need batches above Kafka's default message.max.bytes (1 MiB + 12).
    create "s$s" 8 "max.message.bytes=$((s + 1048576))"
    franz "rps mibps p99_us" produce -topic "s$s" -records "$n" -size "$s"
    local line; line=$("$FRANZ" consume -brokers "$BOOT" -topic "s$s" -records "$n")
    put read_mibps "$(echo "$line" | sed -E 's/.*mibps=([0-9.]+).*/\1/')"
  done
  stop_broker
}

log "results in $OUT; load before: $(cut -d' ' -f1-3 /proc/loadavg)"
for CURVE in $CURVES; do
  for BROKER in $BROKERS; do
    log "$CURVE: $BROKER"
    # A curve that fails on one broker is recorded as failed; the others still run. (In a
    # subshell with its own set -e: a function called in an || list would run on past errors.)
    set +e
    (set -e; trap stop_broker EXIT; "curve_$CURVE")
    rc=$?
    set -e
    [ "$rc" -eq 0 ] || { log "$CURVE on $BROKER FAILED (exit $rc)"; X=-; put failed "$rc"; }
  done
done
BROKER=

CONDITIONS="$(date -u '+%Y-%m-%d %H:%M UTC'), gregor ${BENCH_GREGOR_LABEL:-$GREGOR}, Kafka $KAFKA_VERSION, $(nproc) cores, load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
VENV="${BENCH_PLOT_VENV:-$CACHE/bench-venv}"
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c 'import matplotlib' 2>/dev/null; then
  log "creating $VENV with matplotlib (pip)"
  if ! { python3 -m venv "$VENV" && "$VENV/bin/pip" install -q matplotlib; }; then
    log "no matplotlib: tables only"
  fi
fi
PY=python3; "$VENV/bin/python" -c 'import matplotlib' 2>/dev/null && PY="$VENV/bin/python"
"$PY" "$HERE/scaling_plot.py" "$RAW" "$OUT" "$CONDITIONS"
log "raw results: $RAW; tables: $OUT/tables.md; plots: $OUT/*.png"
