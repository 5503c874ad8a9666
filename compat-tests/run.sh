#!/usr/bin/env bash
# The real-client compatibility suite in one command: installs what it needs (kcat, a Python
# venv with the pinned clients, the reference Kafka's jars), builds gregor if its binary is
# missing, starts gregor and the reference Apache Kafka once each, runs every scenario against
# both, prints and writes the client × scenario × broker matrix
# (compat-tests/results/matrix.md), and stops both brokers.
#
# Exit status: pytest's — non-zero when any scenario fails on any broker (a gregor failure on a
# scenario Kafka passes is a gregor bug; a failure on Kafka is a bad scenario).
#
# Environment (names never start with GREGOR_: gregor rejects unknown GREGOR_* variables, and
# this script strips them from the broker's environment):
#   COMPAT_GREGOR_BIN   gregor binary (default $CARGO_TARGET_DIR/debug/gregor, built if missing)
#   COMPAT_SKIP_KAFKA=1   run against gregor only      COMPAT_SKIP_GREGOR=1  against Kafka only
#   COMPAT_ONLY=EXPR      pytest -k expression, e.g. COMPAT_ONLY='roundtrip and gzip'
#   COMPAT_KAFKA_VERSION  the reference Kafka and the Java client's kafka-clients (default:
#                         kafka.version in kafka/pom.xml, 4.4.0; e.g. 4.3.1 for the previous one)
#   COMPAT_GREGOR_PORT (19092)  COMPAT_KAFKA_PORT (24092)  COMPAT_CACHE_DIR (~/.cache/gregor)
#   COMPAT_GREGOR_METRICS_PORT (COMPAT_GREGOR_PORT + 1): gregor's --http-listen (/metrics and
#                         the REST API), exported to the tests as COMPAT_GREGOR_METRICS and
#                         COMPAT_GREGOR_HTTP=127.0.0.1:PORT (test_metrics.py, test_http_gateway.py)
#   COMPAT_PG_PORT (25432)  first of 7 loopback ports of test_pgcluster.py's PostgreSQL servers
#   COMPAT_CLUSTER=1      also a third target, gregor-cluster: three gregor brokers (ports
#                         COMPAT_CLUSTER_PORT.. +2, default 19800) over a PostgreSQL primary with a
#                         synchronous standby (ports COMPAT_CLUSTER_PG_PORTS, 25462,25463), every
#                         client given all three addresses; scenarios marked single_broker are
#                         not collected there (COMPAT_CLUSTER=only: that target alone)
#   COMPAT_SERIAL=1       one pytest for both brokers (default: one per broker, side by side,
#                         their output printed in turn and one matrix merged from both)
#   extra arguments are passed to pytest (e.g. -x, -v)
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
CACHE="${COMPAT_CACHE_DIR:-$HOME/.cache/gregor}"
export COMPAT_CACHE_DIR="$CACHE"
RESULTS="$HERE/results"
GREGOR_PORT_="${COMPAT_GREGOR_PORT:-19092}"
GREGOR_METRICS_PORT_="${COMPAT_GREGOR_METRICS_PORT:-$((GREGOR_PORT_ + 1))}"
KAFKA_PORT_="${COMPAT_KAFKA_PORT:-24092}"
SKIP_KAFKA="${COMPAT_SKIP_KAFKA:-0}"
SKIP_GREGOR="${COMPAT_SKIP_GREGOR:-0}"
mkdir -p "$RESULTS" "$CACHE"

say() { echo "== $*"; }
die() { echo "compat-tests: ERROR: $*" >&2; exit 1; }
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

CLUSTER="${COMPAT_CLUSTER:-0}"
CLUSTER_PORT_="${COMPAT_CLUSTER_PORT:-19800}"
CLUSTER_PG_PORTS_="${COMPAT_CLUSTER_PG_PORTS:-25462,25463}"
if [ "$CLUSTER" = only ]; then SKIP_KAFKA=1; SKIP_GREGOR=1; fi
[ "$SKIP_KAFKA" = 1 ] && [ "$SKIP_GREGOR" = 1 ] && [ "$CLUSTER" = 0 ] && die "COMPAT_SKIP_KAFKA and COMPAT_SKIP_GREGOR both set: nothing to test"

# ------------------------------------------------------------------------------ installs
source "$ROOT/scripts/deps.sh"

command -v kcat >/dev/null || apt_install kcat
# test_pgcluster.py starts PostgreSQL servers (Debian keeps them under /usr/lib/postgresql/<ver>/bin).
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || apt_install postgresql
# test_mqtt.py: Mosquitto, the MQTT oracle, and its command-line clients.
apt_install mosquitto mosquitto-clients
if [ "$SKIP_KAFKA" != 1 ]; then
  command -v java >/dev/null || apt_install openjdk-17-jre-headless
  command -v mvn >/dev/null || apt_install maven
fi

VENV="$CACHE/compat-venv"
REQ="$HERE/python/requirements.txt"
STAMP="$VENV/.requirements.sha256"
want_stamp="$(sha256sum "$REQ" | cut -d' ' -f1) $(python3 -c 'import sys; print(sys.version.split()[0])')"
if [ ! -x "$VENV/bin/python" ] || [ "$(cat "$STAMP" 2>/dev/null)" != "$want_stamp" ]; then
  say "python venv $VENV (pip install -r compat-tests/python/requirements.txt)"
  rm -rf "$VENV"
  python3 -m venv "$VENV" 2>/dev/null || { apt_install python3-venv; python3 -m venv "$VENV"; }
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check -r "$REQ"
  echo "$want_stamp" >"$STAMP"
fi

# The reference Kafka's version (kafka.version in kafka/pom.xml, or COMPAT_KAFKA_VERSION, e.g.
# 4.3.1): exported for the scenarios (compat.kafka_version) and the Java client's build.
COMPAT_KAFKA_VERSION="$("$HERE/kafka/reference-kafka.sh" version)"
export COMPAT_KAFKA_VERSION
[ "$SKIP_KAFKA" = 1 ] || "$HERE/kafka/reference-kafka.sh" fetch

if [ "$SKIP_GREGOR" != 1 ] || [ "$CLUSTER" != 0 ]; then
  TARGET="${CARGO_TARGET_DIR:-$CACHE/target}"
  BIN="${COMPAT_GREGOR_BIN:-$TARGET/debug/gregor}"
  if [ ! -x "$BIN" ]; then
    [ -n "${COMPAT_GREGOR_BIN:-}" ] && die "COMPAT_GREGOR_BIN=$BIN is not an executable"
    say "building gregor (cargo build --bin gregor, CARGO_TARGET_DIR=$TARGET)"
    (cd "$ROOT" && CARGO_TARGET_DIR="$TARGET" cargo build --quiet --bin gregor)
  fi
  # The security scenarios (python/secured.py) start gregors of their own from it.
  export COMPAT_GREGOR_BIN="$BIN"
fi

# ------------------------------------------------------------------------------ brokers
GREGOR_PID=""
GREGOR_DATA=""
KAFKA_STATE=""
CLUSTER_PIDS=()
CLUSTER_DIR=""
cleanup() {
  set +e
  for pid in "${CLUSTER_PIDS[@]}"; do kill "$pid" 2>/dev/null; done
  for pid in "${CLUSTER_PIDS[@]}"; do
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
  done
  if [ -n "$CLUSTER_DIR" ]; then
    "$VENV/bin/python" "$HERE/python/pgcluster.py" stop "$CLUSTER_DIR/pg" >/dev/null 2>&1
    rm -rf "$CLUSTER_DIR"
  fi
  if [ -n "$GREGOR_PID" ] && kill -0 "$GREGOR_PID" 2>/dev/null; then
    kill "$GREGOR_PID" 2>/dev/null
    for _ in $(seq 100); do kill -0 "$GREGOR_PID" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$GREGOR_PID" 2>/dev/null
    wait "$GREGOR_PID" 2>/dev/null
  fi
  [ -n "$GREGOR_DATA" ] && rm -rf "$GREGOR_DATA"
  if [ -n "$KAFKA_STATE" ]; then
    cp "$KAFKA_STATE/server.log" "$RESULTS/kafka-server.log" 2>/dev/null
    COMPAT_KAFKA_STATE="$KAFKA_STATE" "$HERE/kafka/reference-kafka.sh" stop >"$RESULTS/kafka-stop.log" 2>&1
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

BROKERS=()
# Strip GREGOR_* variables (e.g. a caller's GREGOR_CACHE_DIR) from the brokers' environment:
# gregor treats unknown ones as configuration errors.
unset_args=()
while IFS= read -r v; do unset_args+=(-u "$v"); done < <(compgen -e | grep '^GREGOR_' || true)
if [ "$SKIP_GREGOR" != 1 ]; then
  port_open "$GREGOR_PORT_" && die "port $GREGOR_PORT_ is already in use (another gregor?)"
  port_open "$GREGOR_METRICS_PORT_" && die "port $GREGOR_METRICS_PORT_ (HTTP) is already in use"
  GREGOR_DATA="$(mktemp -d "${TMPDIR:-/tmp}/gregor-compat-data.XXXXXX")"
  # No initial rebalance delay: the reference Kafka runs with group.initial.rebalance.delay.ms=0
  # too, so group scenarios behave (and take) the same on both. Retention and the log cleaner
  # run every 500 ms on both, so lifecycle scenarios finish in test time.
  say "starting gregor ($BIN) on 127.0.0.1:$GREGOR_PORT_, log $RESULTS/gregor.log"
  env "${unset_args[@]}" NO_COLOR=1 "$BIN" --listen "127.0.0.1:$GREGOR_PORT_" \
    --data-dir "$GREGOR_DATA" --storage disk --group-initial-rebalance-delay-ms 0 \
    --http-listen "127.0.0.1:$GREGOR_METRICS_PORT_" \
    --log-retention-check-interval-ms 500 --log-cleaner-backoff-ms 500 >"$RESULTS/gregor.log" 2>&1 </dev/null &
  GREGOR_PID=$!
  t0=$(date +%s%3N)
  until port_open "$GREGOR_PORT_"; do
    kill -0 "$GREGOR_PID" 2>/dev/null || { cat "$RESULTS/gregor.log" >&2; die "gregor exited during start-up"; }
    [ $(( $(date +%s%3N) - t0 )) -lt 30000 ] || die "gregor did not listen on $GREGOR_PORT_ within 30 s"
    sleep 0.05
  done
  say "gregor up in $(( $(date +%s%3N) - t0 )) ms"
  BROKERS+=("gregor=127.0.0.1:$GREGOR_PORT_")
  export COMPAT_GREGOR_METRICS="127.0.0.1:$GREGOR_METRICS_PORT_"
  export COMPAT_GREGOR_HTTP="127.0.0.1:$GREGOR_METRICS_PORT_"
fi

if [ "$CLUSTER" != 0 ]; then
  CLUSTER_DIR="$(mktemp -d "${TMPDIR:-/tmp}/gregor-compat-cluster.XXXXXX")"
  chmod 755 "$CLUSTER_DIR"  # PostgreSQL runs as its own user under it
  say "starting PostgreSQL (primary and synchronous standby on $CLUSTER_PG_PORTS_) for gregor-cluster"
  url="$("$VENV/bin/python" "$HERE/python/pgcluster.py" start "$CLUSTER_DIR/pg" --ports "$CLUSTER_PG_PORTS_" | head -1)"
  addresses=()
  for node in 1 2 3; do
    port=$((CLUSTER_PORT_ + node - 1))
    port_open "$port" && die "port $port (gregor-cluster) is already in use"
    mkdir -p "$CLUSTER_DIR/b$node"
    env "${unset_args[@]}" NO_COLOR=1 "$BIN" --listen "127.0.0.1:$port" --node-id "$node" \
      --data-dir "$CLUSTER_DIR/b$node" --storage "$url" --group-initial-rebalance-delay-ms 0 \
      --log-retention-check-interval-ms 500 --log-cleaner-backoff-ms 500 \
      >"$RESULTS/gregor-cluster-$node.log" 2>&1 </dev/null &
    CLUSTER_PIDS+=($!)
    addresses+=("127.0.0.1:$port")
  done
  t0=$(date +%s%3N)
  for a in "${addresses[@]}"; do
    until port_open "${a##*:}"; do
      [ $(( $(date +%s%3N) - t0 )) -lt 60000 ] || die "gregor-cluster: $a did not listen within 60 s (logs: $RESULTS/gregor-cluster-*.log)"
      sleep 0.1
    done
  done
  say "gregor-cluster up in $(( $(date +%s%3N) - t0 )) ms: ${addresses[*]}"
  BROKERS+=("gregor-cluster=$(IFS=,; echo "${addresses[*]}")")
fi

if [ "$SKIP_KAFKA" != 1 ]; then
  KAFKA_STATE="${COMPAT_KAFKA_STATE:-${TMPDIR:-/tmp}/gregor-compat-kafka}"
  export COMPAT_KAFKA_PORT="$KAFKA_PORT_"
  # A reference Kafka left behind by an interrupted run (kill -9) is stopped first.
  if COMPAT_KAFKA_STATE="$KAFKA_STATE" "$HERE/kafka/reference-kafka.sh" status; then
    say "stopping a reference Kafka left by an earlier run"
    COMPAT_KAFKA_STATE="$KAFKA_STATE" "$HERE/kafka/reference-kafka.sh" stop
  fi
  say "starting reference Kafka on 127.0.0.1:$KAFKA_PORT_, log $RESULTS/kafka-server.log"
  COMPAT_KAFKA_STATE="$KAFKA_STATE" "$HERE/kafka/reference-kafka.sh" start "loms.order-events:2"
  BROKERS+=("kafka=127.0.0.1:$KAFKA_PORT_")
fi

# ------------------------------------------------------------------------------ tests
export COMPAT_BROKERS
COMPAT_BROKERS="$(IFS=,; echo "${BROKERS[*]}")"
export COMPAT_MATRIX="$RESULTS/matrix.md"
export PYTHONDONTWRITEBYTECODE=1
args=(-p no:cacheprovider --durations=15)  # the slowest scenarios: where CI time goes
[ -n "${COMPAT_ONLY:-}" ] && args+=(-k "$COMPAT_ONLY")
if [ ${#BROKERS[@]} -lt 2 ] || [ "${COMPAT_SERIAL:-0}" = 1 ]; then
  say "pytest against $COMPAT_BROKERS${COMPAT_ONLY:+ (-k $COMPAT_ONLY)}"
  set +e
  (cd "$HERE/python" && "$VENV/bin/python" -m pytest "${args[@]}" "$@")
  status=$?
  set -e
  exit $status
fi

# One pytest per broker, side by side: the scenarios mostly wait on the brokers and clients
# (the two cores idle about half the time), and every broker a scenario starts has ports and
# state per broker kind. Builds the two share (Java, npm) take a lock. Each half's output is
# printed after both end; the matrix of both is merged from their JSON results. Tests marked
# `once` (not broker scenarios) run in the first half only.
pids=() names=() once=1
for b in "${BROKERS[@]}"; do
  name="${b%%=*}"
  say "pytest against $b${COMPAT_ONLY:+ (-k $COMPAT_ONLY)}, output in $RESULTS/pytest-$name.log"
  rm -f "$RESULTS/results-$name.json"
  (cd "$HERE/python" && COMPAT_BROKERS="$b" COMPAT_MATRIX="$RESULTS/matrix-$name.md" \
     COMPAT_RESULTS_JSON="$RESULTS/results-$name.json" COMPAT_ONCE="$once" \
     exec "$VENV/bin/python" -m pytest "${args[@]}" "$@") >"$RESULTS/pytest-$name.log" 2>&1 &
  once=0
  pids+=($!) names+=("$name")
done
status=0 jsons=() empty=0
for i in "${!pids[@]}"; do
  s=0; wait "${pids[$i]}" || s=$?
  say "pytest against ${names[$i]}: exit $s"
  cat "$RESULTS/pytest-${names[$i]}.log"
  # 5: nothing collected there (COMPAT_ONLY picked only the other broker's scenarios).
  if [ "$s" -eq 5 ]; then empty=$((empty + 1)); continue; fi
  [ "$s" -eq 0 ] || status=$s
  jsons+=("$RESULTS/results-${names[$i]}.json")
done
[ "$empty" -lt ${#pids[@]} ] || exit 5
(cd "$HERE/python" && "$VENV/bin/python" matrix.py "${jsons[@]}") || status=1
exit $status
