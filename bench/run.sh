#!/usr/bin/env bash
# Side-by-side benchmark of gregor and the reference Apache Kafka on this machine (issue 9).
# Not part of CI. Two independent load generators drive both brokers identically: Kafka's own
# kafka-tools (ProducerPerformance, ConsumerPerformance, EndToEndLatency) and a franz-go
# program (bench/franz). Each broker is started fresh for every run; workloads:
#   W1 produce 1 KiB records, 8 partitions, acks=all, linger 5 ms, batch 1 MiB, no compression
#      (W1:CODEC in BENCH_WORKLOADS: the same compressed with gzip, snappy, lz4 or zstd; the
#      Java tool sends random letters, franz-go zeros)
#   W2 the same with 100-byte records
#   W3 fixed rates (BENCH_RATES MiB/s): produce latency (both clients), end-to-end latency
#      while consuming at once (franz), and EndToEndLatency (one record in flight)
#   W4 consume (ConsumerPerformance, franz) a topic of 1 KiB records written before it, unmeasured
#   W5 produce and consume at once (ProducerPerformance + ConsumerPerformance on one topic)
#   W6 many small keyed records across many partitions (franz, murmur2 key partitioning)
# Brokers: gregor (release build, fsyncs before acknowledging: its default), gregor-nofsync (the
# same with --fsync never: the durability Kafka and Krabka default to), kafka (its default: no
# fsync), kafka-flush (topics with flush.messages=1: fsync every message). Compare at equal
# durability: gregor with kafka-flush, gregor-nofsync with kafka. Three-broker columns (not in
# the default set): gregor-cluster (three gregor over a PostgreSQL primary with a synchronous
# standby, topics RF 3) and kafka-3 (three combined-mode KRaft nodes, RF 3,
# min.insync.replicas=2); tansu (Tansu 0.6.0, one broker, on the same PostgreSQL: a primary
# with a synchronous standby; bench/tansu/README.md); krabka (Krabka, the Rust broker, one node,
# no fsync before the ack: compare it with gregor-nofsync; bench/krabka/README.md, built by
# bench/krabka/build.sh on first use, ~9 minutes); brokers are started by bench/lib.sh.
#
#   bench/run.sh     one command; prints the table and writes it to $BENCH_OUT/table.md
#
# Environment (defaults sized for ~25 minutes on 2 cores):
#   BENCH_RUNS=3  BENCH_BROKERS="gregor gregor-nofsync kafka kafka-flush"
#   BENCH_WORKLOADS="W1 W2 W3 W4 W5 W6"
#   BENCH_RECORDS=1000000 (W1, W4, W5)  BENCH_SMALL_RECORDS=3000000 (W2)
#   BENCH_RATES="10 50 100"  BENCH_RATE_SECONDS=10  BENCH_E2E_RECORDS=10000
#   BENCH_W6_RECORDS=1000000  BENCH_W6_PARTITIONS=64  BENCH_W6_KEYS=10000  BENCH_W6_SIZE=100
#   BENCH_CELL_SECONDS=0 (S > 0: every throughput cell lasts about S seconds instead of a count
#     of records: franz-go produces for S seconds and consumes for S seconds, reading its topic
#     again from the start as often as it takes; a Java cell runs as many records as S seconds
#     take at the rate of a first, unrecorded run of the counts above on the same broker; W3's
#     rates last S seconds too unless BENCH_RATE_SECONDS is set)
#   BENCH_GREGOR_PORT=19192  BENCH_KAFKA_PORT=24192  BENCH_KAFKA_CONTROLLER_PORT=24193
#   BENCH_CLUSTER_PORT=19195 (gregor-cluster: 3 ports)  BENCH_PG_PORTS=25462,25463
#   BENCH_KAFKA3_PORT=24200 (kafka-3: 3 client ports, controllers at +10..+12)  BENCH_KAFKA3_HEAP=1g
#   BENCH_KAFKA_STATE=/tmp/gregor-bench-kafka  BENCH_KAFKA_HEAP=1g
#   COMPAT_KAFKA_VERSION (the reference Kafka and its kafka-tools; default kafka.version in
#     compat-tests/kafka/pom.xml, 4.4.0; e.g. 4.3.1 for the previous reference)
#   BENCH_OUT (raw results and table; default $CACHE_ROOT/bench-results/<UTC time>)
#   BENCH_RATIOS_ONLY=1 (print only the ratio columns; bench/smoke.sh sets it)
#   BENCH_GREGOR_BIN (a gregor binary to use instead of building the release one)
#   BENCH_GREGOR_<NAME>_BIN (more gregor binaries, e.g. built from earlier commits: the broker
#     "gregor-<name>" in BENCH_BROKERS runs it, e.g. gregor-before with BENCH_GREGOR_BEFORE_BIN,
#     and the table gets gregor/gregor-<name> ratios)
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=bench/lib.sh
. "$HERE/lib.sh"
RUNS="${BENCH_RUNS:-3}"
BROKERS="${BENCH_BROKERS:-gregor gregor-nofsync kafka kafka-flush}"
WORKLOADS="${BENCH_WORKLOADS:-W1 W2 W3 W4 W5 W6}"
RECORDS="${BENCH_RECORDS:-1000000}"
SMALL_RECORDS="${BENCH_SMALL_RECORDS:-3000000}"
RATES="${BENCH_RATES:-10 50 100}"
CELL_SECONDS="${BENCH_CELL_SECONDS:-0}"
if [ "$CELL_SECONDS" != 0 ]; then RATE_SECONDS="${BENCH_RATE_SECONDS:-$CELL_SECONDS}"; else RATE_SECONDS="${BENCH_RATE_SECONDS:-10}"; fi
E2E_RECORDS="${BENCH_E2E_RECORDS:-10000}"
W6_RECORDS="${BENCH_W6_RECORDS:-1000000}"
W6_PARTITIONS="${BENCH_W6_PARTITIONS:-64}"
W6_KEYS="${BENCH_W6_KEYS:-10000}"
W6_SIZE="${BENCH_W6_SIZE:-100}"
OUT="${BENCH_OUT:-$CACHE/bench-results/$(date -u +%Y%m%dT%H%M%SZ)}"
# Every workload deletes its topics after it (disk and page cache for the next); Kafka keeps a
# deleted topic's files for a minute by default.
export COMPAT_KAFKA_EXTRA_CONFIG="${COMPAT_KAFKA_EXTRA_CONFIG:+$COMPAT_KAFKA_EXTRA_CONFIG
}file.delete.delay.ms=1000"
bench_init
RAW="$OUT/raw.tsv"
: >"$RAW"
BROKER='' RUN='' MOVED=0

# One raw result: broker run workload client metric value.
put() { printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$BROKER" "$RUN" "$1" "$2" "$3" "$4" >>"$RAW"; }
moved() { MOVED=$((MOVED + $1)); } # bytes a workload's clients moved (produced plus consumed)

# Wrap one workload: resets peak RSS, records broker CPU seconds per GB moved and peak RSS.
# Three-broker columns: CPU and RSS summed over the brokers; gregor-cluster also records
# PostgreSQL's CPU, commits and WAL fsyncs per second, record batches inserted per second and
# WAL written (pg_stat_database, pg_stat_wal, pg_stat_user_tables, pg_current_wal_lsn).
measure() { # workload command...
  local w="$1" bytes before after pg0=() pg1=() t0 ms pgcpu0=0 pgcpu1=0
  shift
  MOVED=0
  reset_peak
  if on_postgres; then
    read -r -a pg0 <<<"$(pg_counters)"
    pgcpu0=$(PIDS="$(pg_pids)" cpu_ticks)
  fi
  t0=$(now_ms)
  before=$(cpu_ticks)
  "$@"
  after=$(cpu_ticks)
  ms=$(($(now_ms) - t0))
  bytes=$((MOVED > 0 ? MOVED : 1))
  ! on_postgres || pgcpu1=$(PIDS="$(pg_pids)" cpu_ticks 2>/dev/null)
  put "$w" broker cpu_s_per_gb "$(echo "scale=3; ($after - $before) / $TICK / ($bytes / 1000000000)" | bc)"
  put "$w" broker peak_rss_mib "$(mib "$(peak_kib)")"
  if on_postgres; then
    sleep 1 # PostgreSQL flushes its statistics at most once a second
    read -r -a pg1 <<<"$(pg_counters)"
    # Both database servers' CPU (processes alive at the end: a backend that exited meanwhile
    # is not counted) and transactions committed (read-only ones too) in gregor's database.
    put "$w" postgres cpu_s_per_gb "$(echo "scale=3; ($pgcpu1 - $pgcpu0) / $TICK / ($bytes / 1000000000)" | bc)"
    put "$w" postgres commits_per_s "$(( (pg1[0] - pg0[0]) * 1000 / ms ))"
    put "$w" postgres wal_fsyncs_per_s "$(( (pg1[2] - pg0[2]) * 1000 / ms ))"
    put "$w" postgres batch_rows_per_s "$(( (pg1[3] - pg0[3]) * 1000 / ms ))"
    put "$w" postgres wal_mib "$(echo "scale=1; (${pg1[1]} - ${pg0[1]}) / 1048576" | bc)"
  fi
}

# A client's CPU: on two cores the clients share the machine with the broker, so what a client
# spends per GB bounds what any broker can reach (recorded as client_cpu_s_per_gb).
timed() { # file command... : runs the command (stdout passed on), its CPU seconds into file
  local TIMEFORMAT='%U %S'
  { time "${@:2}" 2>&3; } 3>&2 2>"$1"
}
client_cpu() { # workload client bytes file (removed)
  local u s
  read -r u s <"$4" && [ "${3:-0}" -gt 0 ] &&
    put "$1" "$2" client_cpu_s_per_gb "$(echo "scale=3; ($u + $s) * 1000000000 / $3" | bc)"
  rm -f "$4"
}

# ProducerPerformance's summary line → records/s, MiB/s, p50/p99/p99.9 ms; from the producer's
# own metrics (--print-metrics) where a record's latency went: request_ms (a produce request's
# round trip, the broker's part) and queue_ms (a batch's wait in the client before it is sent).
pp() { # workload client topic records size throughput
  local out line t m rps mibps p50 p99 p999
  t=$(mktemp "$OUT/time.XXXXXX")
  out=$(timed "$t" java_tool ProducerPerformance --topic "$3" --num-records "$4" --record-size "$5" \
    --throughput "$6" --print-metrics --producer-props bootstrap.servers="$BOOT" acks=all linger.ms=5 \
    batch.size=1048576 compression.type="$CODEC") || true # a failure is logged below
  line=$(echo "$out" | grep ' ms 99.9th' | tail -1)
  read -r rps mibps p50 p99 p999 < <(echo "$line" | sed -E 's/.*sent, ([0-9.]+) records\/sec \(([0-9.]+) MB\/sec\).* ([0-9]+) ms 50th, [0-9]+ ms 95th, ([0-9]+) ms 99th, ([0-9]+) ms 99.9th.*/\1 \2 \3 \4 \5/')
  [ -n "${p999:-}" ] || { log "ProducerPerformance failed: $(echo "$out" | tail -1)"; return 1; }
  moved $(($4 * $5))
  cell_length "$1" "$2" "$4" "$rps"
  client_cpu "$1" "$2" $(($4 * $5)) "$t"
  put "$1" "$2" records_per_s "$rps"; put "$1" "$2" mib_per_s "$mibps"
  put "$1" "$2" p50_ms "$p50"; put "$1" "$2" p99_ms "$p99"; put "$1" "$2" p999_ms "$p999"
  for m in request-latency-avg:request_ms_avg request-latency-max:request_ms_max \
    record-queue-time-avg:queue_ms_avg record-queue-time-max:queue_ms_max; do
    line=$(echo "$out" | grep -m1 "^producer-metrics:${m%%:*}:") &&
      put "$1" "$2" "${m#*:}" "$(echo "${line##*:}" | tr -d ' ')"
  done
}

# The records a Java cell runs: the count given, or with BENCH_CELL_SECONDS as many as that
# many seconds take at a records/s measured on the same broker, and a third more (a first run
# is slower: the JVM compiles as it goes). The cell's length is logged.
java_records() { # records records_per_s
  if [ "$CELL_SECONDS" != 0 ]; then
    echo "$1 $2 $CELL_SECONDS" | awk '{n = 1.3 * $2 * $3; print (n > $1 ? int(n) : $1)}'
  else
    echo "$1"
  fi
}
cell_length() { # workload client records records_per_s
  [ "$CELL_SECONDS" = 0 ] || log "    $1 $2${SIZING:+ (sizing)}: $3 records, $(echo "$3 $4" | awk '{printf "%.1f", $1 / $2}') s"
}
# Runs a Java cell for its rate only (raw results in sizing.tsv, not in the table) and prints
# its records/s.
sized() { # pp|cp_ workload args...
  local RAW="$OUT/sizing.tsv" SIZING=1
  "$@" >/dev/null || return 1
  tail -n 20 "$RAW" | awk -F'\t' -v w="$2" '$3 == w && $5 == "records_per_s" {v = $6} END {print v + 0}'
}

# ConsumerPerformance (consumer group; fetch figures exclude the group join), 1 KiB records.
cp_() { # workload client topic records
  local line t
  t=$(mktemp "$OUT/time.XXXXXX")
  line=$(timed "$t" java_tool ConsumerPerformance --bootstrap-server "$BOOT" --topic "$3" --num-records "$4" \
    --timeout 60000 --hide-header | tail -1) || true # a failure is logged below
  IFS=', ' read -r -a f <<<"$line"
  # start date, start time, end date, end time, MB, MB/s, nMsg, nMsg/s, rebalance ms, fetch ms, fetch MB/s, fetch nMsg/s
  # (A timeout prints a warning line instead of the figures.)
  [ "${#f[@]}" -ge 12 ] && [[ "${f[10]}" =~ ^[0-9.]+$ ]] || { log "ConsumerPerformance failed: $line"; return 1; }
  put "$1" "$2" mib_per_s "${f[10]}"; put "$1" "$2" records_per_s "${f[11]}"
  moved $(($4 * 1024))
  cell_length "$1" "$2" "$4" "${f[11]}"
  client_cpu "$1" "$2" $(($4 * 1024)) "$t"
}

# franz-go output key=value → raw results.
franz() { # workload client args...
  local w="$1" c="$2" line kv bytes=0 secs=0 t
  shift 2
  speaks_franz || { log "    $w with franz-go: n/a on $BROKER (it closes the connection at ApiVersions)"; return 0; }
  t=$(mktemp "$OUT/time.XXXXXX")
  line=$(timed "$t" "$FRANZ" "$@" -brokers "$BOOT") ||
    { log "    $w with franz-go failed (its error is above)"; rm -f "$t"; return 0; } # no row; the run goes on
  for kv in $line; do
    case "${kv%%=*}" in
      bytes) bytes="${kv#*=}" ;;
      secs) secs="${kv#*=}" ;;
      records) ;;
      *) put "$w" "$c" "${kv%%=*}" "${kv#*=}" ;;
    esac
  done
  moved "$bytes"
  [ "$CELL_SECONDS" = 0 ] || log "    $w $c: $secs s"
  client_cpu "$w" "$c" "$bytes" "$t"
}
# franz-go's produce and consume: -seconds with BENCH_CELL_SECONDS.
cell() { [ "$CELL_SECONDS" = 0 ] || echo "-seconds $CELL_SECONDS"; }

# Each workload W has an optional prep_W, run before it outside its measures (topics, the
# unmeasured data it reads, the size of its Java cells), and deletes its topics after it.
w1_names() { W1_LABEL=W1 W1_TOPIC=w1; [ "$CODEC" = none ] || W1_LABEL="W1 $CODEC" W1_TOPIC="w1-$CODEC"; }
prep_w1() {
  w1_names
  create "$W1_TOPIC" 8; create "${W1_TOPIC}f" 8
  W1_JAVA=$RECORDS
  [ "$CELL_SECONDS" = 0 ] || W1_JAVA=$(java_records "$RECORDS" "$(sized pp "$W1_LABEL" java "$W1_TOPIC" "$RECORDS" 1024 -1)")
}
w1() {
  pp "$W1_LABEL" java "$W1_TOPIC" "$W1_JAVA" 1024 -1
  # shellcheck disable=SC2046 # cell: no flag or two words
  franz "$W1_LABEL" franz produce -topic "${W1_TOPIC}f" -records "$RECORDS" -size 1024 -codec "$CODEC" $(cell)
}
prep_w2() {
  create w2 8; create w2f 8
  W2_JAVA=$SMALL_RECORDS
  [ "$CELL_SECONDS" = 0 ] || W2_JAVA=$(java_records "$SMALL_RECORDS" "$(sized pp W2 java w2 "$SMALL_RECORDS" 100 -1)")
}
w2() {
  pp W2 java w2 "$W2_JAVA" 100 -1
  # shellcheck disable=SC2046
  franz W2 franz produce -topic w2f -records "$SMALL_RECORDS" -size 100 $(cell)
}
w3() {
  local rate n
  for rate in $RATES; do
    n=$((rate * 1024 * RATE_SECONDS))
    create "w3-$rate" 8; pp "W3@${rate}MiB/s" java "w3-$rate" "$n" 1024 $((rate * 1024))
    create "w3f-$rate" 8; franz "W3@${rate}MiB/s" franz e2e -topic "w3f-$rate" -size 1024 -rate "$rate" -seconds "$RATE_SECONDS"
  done
  create w3e 1
  local line
  line=$(java_tool EndToEndLatency --bootstrap-server "$BOOT" --topic w3e --num-records "$E2E_RECORDS" \
    --producer-acks all --record-size 1024 | grep -E 'Avg latency|Percentiles' | tr '\n' ' ')
  read -r avg p50 p99 p999 < <(echo "$line" | sed -E 's/Avg latency: ([0-9.]+) ms.*50th = ([0-9]+), 99th = ([0-9]+), 99.9th = ([0-9]+).*/\1 \2 \3 \4/')
  [ -n "${p999:-}" ] || { log "EndToEndLatency failed: $line"; return 1; }
  moved $((2 * E2E_RECORDS * 1024))
  put "W3 one in flight" java e2e_avg_ms "$avg"; put "W3 one in flight" java e2e_p50_ms "$p50"
  put "W3 one in flight" java e2e_p99_ms "$p99"; put "W3 one in flight" java e2e_p999_ms "$p999"
}
# W4 reads a topic of 1 KiB records that franz-go writes first; with BENCH_CELL_SECONDS, as many
# as ConsumerPerformance reads in that time (at most half the free memory: read from the page
# cache, as W4 always has been), and franz-go reads it from the start again until its time is up.
prep_w4() {
  create w4 8
  "$FRANZ" produce -brokers "$BOOT" -topic w4 -records "$RECORDS" -size 1024 >/dev/null
  W4_RECORDS=$RECORDS
  [ "$CELL_SECONDS" != 0 ] || return 0
  local cap
  W4_RECORDS=$(java_records "$RECORDS" "$(sized cp_ W4 java w4 "$RECORDS")")
  cap=$(awk '/MemAvailable/ {print int($2 / 2)}' /proc/meminfo) # KiB: records of 1 KiB
  [ "$W4_RECORDS" -le "$cap" ] || { log "    W4: $W4_RECORDS records capped at $cap (half the free memory)"; W4_RECORDS=$cap; }
  [ "$W4_RECORDS" -le "$RECORDS" ] ||
    "$FRANZ" produce -brokers "$BOOT" -topic w4 -records $((W4_RECORDS - RECORDS)) -size 1024 >/dev/null
}
w4() {
  cp_ W4 java w4 "$W4_RECORDS"
  # shellcheck disable=SC2046
  franz W4 franz consume -topic w4 -records "$W4_RECORDS" $(cell)
}
prep_w5() {
  create w5 8
  W5_RECORDS=$RECORDS
  [ "$CELL_SECONDS" = 0 ] || { create w5-sizing 8; W5_RECORDS=$(java_records "$RECORDS" "$(sized pp W5-produce java w5-sizing "$RECORDS" 1024 -1)"); }
}
w5() {
  cp_ W5-consume java w5 "$W5_RECORDS" &
  local cpid=$!
  pp W5-produce java w5 "$W5_RECORDS" 1024 -1
  wait "$cpid"
  moved $((W5_RECORDS * 1024)) # the consumer's, counted here: it ran in a subshell
}
prep_w6() { create w6 "$W6_PARTITIONS"; }
w6() {
  # shellcheck disable=SC2046
  franz W6 franz produce -topic w6 -records "$W6_RECORDS" -size "$W6_SIZE" -keys "$W6_KEYS" $(cell)
}

log "results in $OUT; load before: $(cut -d' ' -f1-3 /proc/loadavg)"
read -r -a broker_list <<<"$BROKERS"
for RUN in $(seq 1 "$RUNS"); do
  # The order rotates every run, so no broker always comes first (page cache, writeback and
  # CPU frequency favour a position; a fixed order biased before/after pairs by a few %).
  for i in "${!broker_list[@]}"; do
    BROKER="${broker_list[$(( (i + RUN - 1) % ${#broker_list[@]} ))]}"
    log "run $RUN/$RUNS: $BROKER"
    start_broker
    put start-up broker start_ms "$START_MS"
    for w in $WORKLOADS; do
      log "  $w"
      # W1:CODEC runs W1 with that compression (label "W1 CODEC").
      CODEC=none label="$w"; [ "$w" = "${w#*:}" ] || CODEC="${w#*:}" label="${w/:/ }"
      w="${w%%:*}"
      ! declare -F "prep_${w,,}" >/dev/null || "prep_${w,,}"
      measure "$label" "${w,,}"
      drop_topics
    done
    stop_broker
  done
done

python3 "$HERE/summarize.py" "$RAW" \
  "$(date -u '+%Y-%m-%d %H:%M UTC'), Kafka $KAFKA_VERSION, $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), load average after: $(cut -d' ' -f1-3 /proc/loadavg)" \
  ${BENCH_RATIOS_ONLY:+--ratios-only} | tee "$OUT/table.md"
log "raw results: $RAW; table: $OUT/table.md"
