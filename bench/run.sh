#!/usr/bin/env bash
# Side-by-side throughput of gregor and the reference Apache Kafka on this machine, driven
# by Kafka's own ProducerPerformance (kafka-tools) and by kcat for reading back. Not part of
# CI: numbers on shared 2-core machines are noisy, so run it several times and compare.
#
#   bench/run.sh                 W1: 1 KiB records; also BENCH_RECORDS, BENCH_SIZE, BENCH_PARTITIONS
#
# Prints one markdown table per run; paste it with the date and machine into bench/README.md.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(dirname "$HERE")"
CACHE="${CACHE_ROOT:-$HOME/.cache/gregor}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$CACHE/target}"
RECORDS="${BENCH_RECORDS:-1000000}"
SIZE="${BENCH_SIZE:-1024}"
PARTITIONS="${BENCH_PARTITIONS:-8}"
GPORT=19192
KPORT=39192
REF="$ROOT/compat-tests/kafka/reference-kafka.sh"
export COMPAT_KAFKA_PORT=$KPORT COMPAT_KAFKA_CONTROLLER_PORT=39193 COMPAT_KAFKA_STATE=/tmp/gregor-bench-kafka COMPAT_KAFKA_HEAP=1g

cargo build --release --quiet --bin gregor --manifest-path "$ROOT/Cargo.toml"
"$REF" fetch
LIBS="$(ls -d "$CACHE"/kafka-*/libs | tail -1)"
DATA="$(mktemp -d)"
cleanup() {
  [ -n "${GPID:-}" ] && kill "$GPID" 2>/dev/null || true
  "$REF" stop >/dev/null 2>&1 || true
  rm -rf "$DATA"
}
trap cleanup EXIT

peak_rss_mb() { awk '/VmHWM/ {printf "%.0f", $2/1024}' "/proc/$1/status"; }

produce() { # bootstrap → "records/s MB/s avg_ms p50 p99 p99.9"
  java -Xmx512m -cp "$LIBS/*" -Dlog4j2.level=warn org.apache.kafka.tools.ProducerPerformance \
    --topic bench --num-records "$RECORDS" --record-size "$SIZE" --throughput -1 \
    --producer-props bootstrap.servers="$1" acks=all linger.ms=5 batch.size=1048576 compression.type=none 2>/dev/null \
    | tail -1 | sed -E 's/.*sent, ([0-9.]+) records\/sec \(([0-9.]+) MB\/sec\), ([0-9.]+) ms avg latency.* ([0-9]+) ms 50th, ([0-9]+) ms 95th, ([0-9]+) ms 99th, ([0-9]+) ms 99.9th.*/\1 \2 \3 \4 \6 \7/'
}

consume() { # bootstrap → seconds to read everything back with kcat (no group)
  local start end
  start=$(date +%s.%N)
  kcat -b "$1" -t bench -C -e -q -o beginning -f '' -X fetch.max.bytes=52428800 >/dev/null
  end=$(date +%s.%N)
  echo "$end - $start" | bc
}

start_ms=$(date +%s%3N)
"$CARGO_TARGET_DIR/release/gregor" --listen 127.0.0.1:$GPORT --data-dir "$DATA" --topic bench:$PARTITIONS --log warn &
GPID=$!
until (exec 3<>/dev/tcp/127.0.0.1/$GPORT) 2>/dev/null; do sleep 0.01; done
gstart=$(( $(date +%s%3N) - start_ms ))
read -r g_rps g_mbs g_avg g_p50 g_p99 g_p999 < <(produce 127.0.0.1:$GPORT)
g_read=$(consume 127.0.0.1:$GPORT)
g_rss=$(peak_rss_mb $GPID)

start_ms=$(date +%s%3N)
"$REF" start bench:$PARTITIONS >/dev/null
kstart=$(( $(date +%s%3N) - start_ms ))
KPID=$(cat /tmp/gregor-bench-kafka/kafka.pid)
read -r k_rps k_mbs k_avg k_p50 k_p99 k_p999 < <(produce 127.0.0.1:$KPORT)
k_read=$(consume 127.0.0.1:$KPORT)
k_rss=$(peak_rss_mb "$KPID")

ratio() { echo "scale=2; $1 / $2" | bc; }
mb=$(echo "scale=1; $RECORDS * $SIZE / 1048576" | bc)
cat <<TABLE
$(date -u +%Y-%m-%d), $(nproc) cores, $RECORDS records × $SIZE B, $PARTITIONS partitions, acks=all, linger 5 ms, batch 1 MiB
gregor: fsync before every acknowledgement (group commit); Kafka: its default (no fsync)

| measure | gregor | Kafka | gregor/Kafka |
|---|---|---|---|
| produce records/s | $g_rps | $k_rps | $(ratio "$g_rps" "$k_rps") |
| produce MB/s | $g_mbs | $k_mbs | $(ratio "$g_mbs" "$k_mbs") |
| produce latency avg ms | $g_avg | $k_avg | |
| produce latency p50 / p99 / p99.9 ms | $g_p50 / $g_p99 / $g_p999 | $k_p50 / $k_p99 / $k_p999 | |
| read back $mb MB (kcat), s | $g_read | $k_read | $(ratio "$k_read" "$g_read") (speed) |
| peak RSS MB | $g_rss | $k_rss | $(ratio "$g_rss" "$k_rss") |
| start-up to listening, ms | $gstart | $kstart | |
TABLE
