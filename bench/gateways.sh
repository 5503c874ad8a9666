#!/usr/bin/env bash
# Throughput of gregor's non-Kafka front doors (issue 19), beside Mosquitto for MQTT. Not
# part of CI. A Go load generator (bench/gateways, paho.mqtt.golang and net/http) drives:
#   H1 HTTP produce (REST Proxy v2 binary), 1 record of 1 KiB per request, 8 keep-alive
#      connections each with one request in flight
#   H2 the same with 100 records per request
#   M1 MQTT QoS 1 publishes of 1 KiB, 8 clients each with up to 64 awaiting their PUBACK
#   M2 MQTT QoS 1, one client, one publish at a time (the acknowledgement's latency)
# Brokers: gregor (release build; answers a produce and a PUBACK once the records are fsynced,
# its default), gregor-nofsync (--fsync never: the page cache only), mosquitto (Debian's, at
# its defaults: no persistence, so a PUBACK means "in memory"; MQTT workloads only). Kafka has
# neither gateway; Confluent's REST Proxy (a JVM service) is not in any registry reachable here.
#
#   bench/gateways.sh    prints the table (medians over runs, min-max) and writes it with the
#                        raw results to $BENCH_OUT
#
# Environment: BENCH_RUNS=3  BENCH_SECONDS=10 (per cell)  BENCH_BROKERS="gregor gregor-nofsync
#   mosquitto"  BENCH_WORKLOADS="H1 H2 M1 M2"  BENCH_GREGOR_BIN (instead of the release build)
#   BENCH_OUT (default $CACHE_ROOT/bench-results/gateways-<UTC time>)
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=bench/lib.sh
. "$HERE/lib.sh"
RUNS="${BENCH_RUNS:-3}"
SECONDS_PER="${BENCH_SECONDS:-10}"
BROKERS="${BENCH_BROKERS:-gregor gregor-nofsync mosquitto}"
WORKLOADS="${BENCH_WORKLOADS:-H1 H2 M1 M2}"
OUT="${BENCH_OUT:-$CACHE/bench-results/gateways-$(date -u +%Y%m%dT%H%M%SZ)}"
KAFKA_PORT=19292 HTTP_PORT=19293 MQTT_PORT=19294
mkdir -p "$OUT"
RAW="$OUT/raw.tsv"
: >"$RAW"
command -v mosquitto >/dev/null || [ -x /usr/sbin/mosquitto ] || {
  log "installing mosquitto (Debian)"; apt-get install -y -qq mosquitto >/dev/null; }
MOSQUITTO="$(command -v mosquitto || echo /usr/sbin/mosquitto)"
build_gregor
log "building the load generator"
LOAD="$OUT/gregor-bench-gateways"
(cd "$HERE/gateways" && go build -o "$LOAD" .)

DATA="$(mktemp -d)"
PID=
cleanup() {
  if [ -n "$PID" ]; then kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; fi
  rm -rf "$DATA"
}
trap cleanup EXIT

wait_port() { until (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; do sleep 0.01; done; }

start_broker() { # broker
  rm -rf "$DATA" && mkdir -p "$DATA"
  case "$1" in
    gregor | gregor-nofsync)
      local fsync=(); [ "$1" = gregor-nofsync ] && fsync=(--fsync never)
      "$GREGOR" --listen "127.0.0.1:$KAFKA_PORT" --data-dir "$DATA" --log warn "${fsync[@]}" \
        --http-listen "127.0.0.1:$HTTP_PORT" --mqtt-listen "127.0.0.1:$MQTT_PORT" \
        --mqtt-topic-map 'bench/#=bench-mqtt' &
      PID=$!
      wait_port "$HTTP_PORT"; wait_port "$MQTT_PORT"
      local cluster
      cluster=$(curl -sf "http://127.0.0.1:$HTTP_PORT/v3/clusters" | sed -E 's/.*"cluster_id":"([^"]+)".*/\1/')
      for t in bench-http bench-mqtt; do
        curl -sf -o /dev/null -H 'Content-Type: application/json' \
          -d "{\"topic_name\":\"$t\",\"partitions_count\":8}" \
          "http://127.0.0.1:$HTTP_PORT/v3/clusters/$cluster/topics"
      done
      ;;
    mosquitto)
      printf 'listener %s 127.0.0.1\nallow_anonymous true\nmax_queued_messages 100000\n%s' \
        "$MQTT_PORT" "$([ "$(id -u)" = 0 ] && echo 'user root')" >"$DATA/mosquitto.conf"
      "$MOSQUITTO" -c "$DATA/mosquitto.conf" 2>"$DATA/mosquitto.log" &
      PID=$!
      wait_port "$MQTT_PORT"
      ;;
  esac
}

stop_broker() { kill "$PID"; wait "$PID" 2>/dev/null || true; PID=; }

run_workload() { # broker workload
  case "$2" in
    H1) "$LOAD" http -url "http://127.0.0.1:$HTTP_PORT" -topic bench-http -conns 8 -batch 1 -seconds "$SECONDS_PER" ;;
    H2) "$LOAD" http -url "http://127.0.0.1:$HTTP_PORT" -topic bench-http -conns 8 -batch 100 -seconds "$SECONDS_PER" ;;
    M1) "$LOAD" mqtt -broker "tcp://127.0.0.1:$MQTT_PORT" -topic bench/m1 -clients 8 -inflight 64 -seconds "$SECONDS_PER" ;;
    M2) "$LOAD" mqtt -broker "tcp://127.0.0.1:$MQTT_PORT" -topic bench/m2 -clients 1 -inflight 1 -seconds "$SECONDS_PER" ;;
  esac
}

log "results in $OUT; load before: $(cut -d' ' -f1-3 /proc/loadavg)"
read -r -a broker_list <<<"$BROKERS"
for RUN in $(seq 1 "$RUNS"); do
  for i in "${!broker_list[@]}"; do # the order rotates from run to run
    BROKER="${broker_list[$(( (i + RUN - 1) % ${#broker_list[@]} ))]}"
    log "run $RUN/$RUNS: $BROKER"
    start_broker "$BROKER"
    for w in $WORKLOADS; do
      [ "$BROKER" = mosquitto ] && [ "${w:0:1}" = H ] && continue
      log "  $w"
      run_workload "$BROKER" "$w" | while IFS='=' read -r k v; do
        printf '%s\t%s\t%s\t%s\t%s\n' "$BROKER" "$RUN" "$w" "$k" "$v" >>"$RAW"
      done
    done
    stop_broker
  done
done

python3 - "$RAW" "$BROKERS" "$WORKLOADS" >"$OUT/table.md" <<'EOF'
import statistics, sys
from collections import defaultdict
raw, brokers, workloads = sys.argv[1], sys.argv[2].split(), sys.argv[3].split()
values = defaultdict(list)
for line in open(raw):
    broker, _, w, key, value = line.rstrip("\n").split("\t")
    values[(broker, w, key)].append(float(value))
rate = {"H1": "records_per_s", "H2": "records_per_s", "M1": "messages_per_s", "M2": "messages_per_s"}
def cell(b, w, key, fmt):
    v = values.get((b, w, key))
    if not v:
        return "n/a"
    return f"{fmt(statistics.median(v))} ({fmt(min(v))}–{fmt(max(v))})" if len(v) > 1 else fmt(v[0])
print("| workload | metric | " + " | ".join(brokers) + " |")
print("|---|---|" + "---|" * len(brokers))
for w in workloads:
    for key, label, fmt in ((rate[w], "acknowledged per s", lambda x: f"{x:,.0f}"),
                            ("p50_ms", "ack p50 ms", lambda x: f"{x:.2f}"),
                            ("p99_ms", "ack p99 ms", lambda x: f"{x:.2f}")):
        print(f"| {w} | {label} | " + " | ".join(cell(b, w, key, fmt) for b in brokers) + " |")
EOF
cat "$OUT/table.md"
