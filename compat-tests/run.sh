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
#                         not collected there (COMPAT_CLUSTER=only: that target alone, without the
#                         `once` tests, which are not broker scenarios)
#   COMPAT_KAFKA3=1       also the oracle of the cluster kill scenarios: the reference Kafka as three
#                         brokers (test_cluster_kafka3.py; minutes of three JVMs: not in CI), e.g.
#                         COMPAT_KAFKA3=1 COMPAT_SKIP_KAFKA=1 COMPAT_ONLY=kafka3 compat-tests/run.sh
#   COMPAT_SERIAL=1       one pytest for both brokers (default: one per broker, side by side,
#                         their output printed in turn and one matrix merged from both)
#   COMPAT_SPLIT=2        two pytests per broker kind, side by side, each on a gregor and a Kafka
#                         of its own: the files in SPLIT_FILES (below) against a second gregor and
#                         Kafka on ports 200 above the first's (gregor 19292, HTTP 19293, Kafka
#                         24292, its controller 24293, and the brokers those scenarios start at
#                         offsets from them); scripts/test-all.sh uses it
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
# Java and Maven: the reference Kafka, and the Kafka Connect worker and MirrorMaker 2 that
# test_connect.py runs (against gregor too); the JDK's javac builds compat-tests/java and the
# runner of Kafka's tools (kafka/ToolRunner.java).
command -v javac >/dev/null || apt_install openjdk-17-jdk-headless
command -v mvn >/dev/null || apt_install maven

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
# Kafka Connect's and MirrorMaker 2's jars (test_connect.py runs them against either broker;
# it builds its own connectors, kafka/connect-plugin, against Connect's).
"$HERE/kafka/reference-kafka.sh" connect-libs >/dev/null
"$HERE/kafka/reference-kafka.sh" mirror-libs >/dev/null

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
# COMPAT_SPLIT=2: two pytests per broker kind, each against a broker of its own (the second
# group's gregor and Kafka, and the brokers its scenarios start at fixed offsets, on ports
# 200 above the first's), the test files in SPLIT_FILES in the second. The scenarios mostly wait
# on brokers and clients, so four streams keep the two cores busier than two.
SPLIT="${COMPAT_SPLIT:-1}"
case "$SPLIT" in 1|2) ;; *) die "COMPAT_SPLIT=$SPLIT: 1 or 2" ;; esac
[ "$SKIP_KAFKA" = 1 ] && [ "$SKIP_GREGOR" = 1 ] && SPLIT=1
# Balanced by the per-file seconds the pytests print: in a warm CI run with these groups the
# first took gregor 448 s and Kafka 427 s, the second 490 s and 557 s, before test_acls_sasl.py
# (23 s) and test_kafka_configs.py (19 s) moved to the first. The modules that share the
# `secured` broker pair (secured.py) stay in one group.
SPLIT_FILES=(test_java.py test_security_authn.py test_security_clients.py test_security_cli.py
  test_security_oauth.py test_security_reauth.py test_http_gateway.py test_http_users.py
  test_http_java.py test_kafka_tools.py)
SPLIT_STEP=200
KAFKA_STATE_BASE="${COMPAT_KAFKA_STATE:-${TMPDIR:-/tmp}/gregor-compat-kafka}"
group_suffix() { [ "$1" -eq 0 ] || echo "-$(( $1 + 1 ))"; }

GREGOR_PIDS=()
GREGOR_DATAS=()
KAFKA_STATES=()
CLUSTER_PIDS=()
CLUSTER_DIR=""
stop_pid() {
  kill "$1" 2>/dev/null
  for _ in $(seq 100); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$1" 2>/dev/null
  wait "$1" 2>/dev/null
}
# The cluster target's brokers as the run leaves them (printed, and kept in
# results/gregor-cluster-report.txt for scripts/test-all.sh to show last): any that exited, and
# each one's warnings, errors and leadership moves, which say why clients saw brokers come and go.
report_cluster() {
  local i node pid log report="$RESULTS/gregor-cluster-report.txt"
  : >"$report"
  for i in "${!CLUSTER_PIDS[@]}"; do
    node=$((i + 1)) pid="${CLUSTER_PIDS[$i]}" log="$RESULTS/gregor-cluster-$node.log"
    kill -0 "$pid" 2>/dev/null || echo "gregor-cluster node $node EXITED during the run (log $log)" >>"$report"
    grep -E " (WARN|ERROR) |moved a partition's leadership|taking over|panicked" "$log" 2>/dev/null \
      | tail -n 25 | sed "s/^/node $node: /" >>"$report"
  done
  if [ -s "$report" ]; then
    say "gregor-cluster: exits, warnings and leadership moves (results/gregor-cluster-report.txt)"
    cat "$report"
  fi
}
cleanup() {
  set +e
  [ "${#CLUSTER_PIDS[@]}" -eq 0 ] || report_cluster
  for pid in "${CLUSTER_PIDS[@]}"; do kill "$pid" 2>/dev/null; done
  for pid in "${CLUSTER_PIDS[@]}"; do stop_pid "$pid"; done
  if [ -n "$CLUSTER_DIR" ]; then
    "$VENV/bin/python" "$HERE/python/pgcluster.py" stop "$CLUSTER_DIR/pg" >/dev/null 2>&1
    rm -rf "$CLUSTER_DIR"
  fi
  for pid in "${GREGOR_PIDS[@]}"; do stop_pid "$pid"; done
  for d in "${GREGOR_DATAS[@]}"; do rm -rf "$d"; done
  local g
  for g in "${!KAFKA_STATES[@]}"; do
    cp "${KAFKA_STATES[$g]}/server.log" "$RESULTS/kafka$(group_suffix "$g")-server.log" 2>/dev/null
    COMPAT_KAFKA_STATE="${KAFKA_STATES[$g]}" "$HERE/kafka/reference-kafka.sh" stop \
      >"$RESULTS/kafka$(group_suffix "$g")-stop.log" 2>&1
  done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Strip GREGOR_* variables (e.g. a caller's GREGOR_CACHE_DIR) from the brokers' environment:
# gregor treats unknown ones as configuration errors.
unset_args=()
while IFS= read -r v; do unset_args+=(-u "$v"); done < <(compgen -e | grep '^GREGOR_' || true)

# start_gregor GROUP: gregor of that group on its ports, a temp data dir, log gregor[-2].log.
start_gregor() {
  local g="$1" off=$(( $1 * SPLIT_STEP )) log
  local port=$((GREGOR_PORT_ + off)) http=$((GREGOR_METRICS_PORT_ + off))
  log="$RESULTS/gregor$(group_suffix "$g").log"
  port_open "$port" && die "port $port is already in use (another gregor?)"
  port_open "$http" && die "port $http (HTTP) is already in use"
  local data
  data="$(mktemp -d "${TMPDIR:-/tmp}/gregor-compat-data.XXXXXX")"
  GREGOR_DATAS+=("$data")
  # No initial rebalance delay: the reference Kafka runs with group.initial.rebalance.delay.ms=0
  # too, so group scenarios behave (and take) the same on both. Retention and the log cleaner
  # run every 500 ms on both, so lifecycle scenarios finish in test time.
  say "starting gregor ($BIN) on 127.0.0.1:$port, log $log"
  env "${unset_args[@]}" NO_COLOR=1 "$BIN" --listen "127.0.0.1:$port" \
    --data-dir "$data" --storage disk --group-initial-rebalance-delay-ms 0 \
    --http-listen "127.0.0.1:$http" \
    --log-retention-check-interval-ms 500 --log-cleaner-backoff-ms 500 >"$log" 2>&1 </dev/null &
  local pid=$!
  GREGOR_PIDS+=("$pid")
  local t0
  t0=$(date +%s%3N)
  until port_open "$port"; do
    kill -0 "$pid" 2>/dev/null || { cat "$log" >&2; die "gregor exited during start-up"; }
    [ $(( $(date +%s%3N) - t0 )) -lt 30000 ] || die "gregor did not listen on $port within 30 s"
    sleep 0.05
  done
  say "gregor up in $(( $(date +%s%3N) - t0 )) ms"
}

# kafka_env GROUP: the reference-kafka.sh environment of that group's Kafka.
kafka_env() {
  local g="$1" off=$(( $1 * SPLIT_STEP ))
  echo "COMPAT_KAFKA_STATE=$KAFKA_STATE_BASE$(group_suffix "$g")"
  echo "COMPAT_KAFKA_PORT=$((KAFKA_PORT_ + off))"
  # The first group's controller port stays reference-kafka.sh's (COMPAT_KAFKA_CONTROLLER_PORT).
  [ "$g" -eq 0 ] || echo "COMPAT_KAFKA_CONTROLLER_PORT=$((KAFKA_PORT_ + off + 1))"
}

if [ "$SKIP_GREGOR" != 1 ]; then
  for ((g = 0; g < SPLIT; g++)); do start_gregor "$g"; done
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
  CLUSTER_ADDRESSES="$(IFS=,; echo "${addresses[*]}")"
fi

if [ "$SKIP_KAFKA" != 1 ]; then
  # Each group's Kafka starts in the background (seconds of JVM start-up each, side by side).
  kpids=()
  for ((g = 0; g < SPLIT; g++)); do
    mapfile -t kenv < <(kafka_env "$g")
    KAFKA_STATES+=("${kenv[0]#*=}")
    (
      export "${kenv[@]}"
      # A reference Kafka left behind by an interrupted run (kill -9) is stopped first.
      if "$HERE/kafka/reference-kafka.sh" status; then
        say "stopping a reference Kafka left by an earlier run ($COMPAT_KAFKA_STATE)"
        "$HERE/kafka/reference-kafka.sh" stop
      fi
      say "starting reference Kafka on 127.0.0.1:$COMPAT_KAFKA_PORT, log $RESULTS/kafka$(group_suffix "$g")-server.log"
      exec "$HERE/kafka/reference-kafka.sh" start "loms.order-events:2"
    ) &
    kpids+=($!)
  done
  for pid in "${kpids[@]}"; do wait "$pid" || die "the reference Kafka did not start"; done
fi

# ------------------------------------------------------------------------------ tests
export COMPAT_MATRIX="$RESULTS/matrix.md"
export PYTHONDONTWRITEBYTECODE=1
args=(-p no:cacheprovider --durations=25)  # the slowest scenarios: where CI time goes
[ -n "${COMPAT_ONLY:-}" ] && args+=(-k "$COMPAT_ONLY")

# The pytests to run: "label broker=address group" (group: -1 for every file).
RUNS=()
for ((g = 0; g < SPLIT; g++)); do
  off=$(( g * SPLIT_STEP ))
  [ "$SKIP_GREGOR" = 1 ] || RUNS+=("gregor$(group_suffix "$g") gregor=127.0.0.1:$((GREGOR_PORT_ + off)) $g")
  [ "$SKIP_KAFKA" = 1 ] || RUNS+=("kafka$(group_suffix "$g") kafka=127.0.0.1:$((KAFKA_PORT_ + off)) $g")
done
[ "$CLUSTER" = 0 ] || RUNS+=("gregor-cluster gregor-cluster=$CLUSTER_ADDRESSES -1")
[ "$SPLIT" -gt 1 ] || for i in "${!RUNS[@]}"; do RUNS[$i]="${RUNS[$i]% *} -1"; done

# run_pytest LABEL BROKER GROUP ONCE [PYTEST ARGS...]: one pytest, in the foreground, with the
# environment of its group (ports the scenarios derive theirs from, the group's HTTP address).
run_pytest() {
  local label="$1" broker="$2" g="$3" once="$4"
  shift 4
  local gg=$(( g < 0 ? 0 : g ))
  local off=$(( gg * SPLIT_STEP ))
  local files=()
  if [ "$g" -eq 0 ]; then
    for f in "${SPLIT_FILES[@]}"; do files+=("--ignore=$f"); done
  elif [ "$g" -gt 0 ]; then
    for f in "${SPLIT_FILES[@]}"; do [ -f "$HERE/python/$f" ] && files+=("$f"); done
  fi
  local vars=(COMPAT_BROKERS="$broker" COMPAT_ONCE="$once"
    COMPAT_GREGOR_PORT=$((GREGOR_PORT_ + off)) COMPAT_KAFKA_PORT=$((KAFKA_PORT_ + off)))
  # gregor's --http-listen (/metrics, the REST API): test_metrics.py, test_http_*.py.
  [ "$SKIP_GREGOR" = 1 ] || vars+=(COMPAT_GREGOR_METRICS="127.0.0.1:$((GREGOR_METRICS_PORT_ + off))"
    COMPAT_GREGOR_HTTP="127.0.0.1:$((GREGOR_METRICS_PORT_ + off))")
  # Scenarios marked beside_kafka (gregor's, e.g. MirrorMaker 2 between the two) need the
  # group's reference Kafka too.
  [ "$SKIP_KAFKA" = 1 ] || [ "$SKIP_GREGOR" = 1 ] ||
    vars+=(COMPAT_REFERENCE_KAFKA="127.0.0.1:$((KAFKA_PORT_ + off))")
  cd "$HERE/python" && exec env "${vars[@]}" "$VENV/bin/python" -m pytest "${args[@]}" "${files[@]}" "$@"
}

if [ ${#RUNS[@]} -lt 2 ] || [ "${COMPAT_SERIAL:-0}" = 1 ]; then
  [ "$SPLIT" = 1 ] || die "COMPAT_SERIAL=1 runs one pytest: use it without COMPAT_SPLIT=2"
  brokers=()
  for r in "${RUNS[@]}"; do read -r _ b _ <<<"$r"; brokers+=("$b"); done
  all="$(IFS=,; echo "${brokers[*]}")"
  say "pytest against $all${COMPAT_ONLY:+ (-k $COMPAT_ONLY)}"
  # The cluster target alone takes no `once` tests: they are not broker scenarios, and beside
  # the suite (CI) its `-k` would start test_cluster_pg.py's PostgreSQL on the suite's ports.
  once=1
  [ "$CLUSTER" != only ] || once=0
  set +e
  (run_pytest all "$all" -1 "$once" "$@")
  status=$?
  set -e
  exit $status
fi

# One pytest per broker (and group), side by side: the scenarios mostly wait on the brokers and
# clients, and every broker a scenario starts has ports and state per broker kind and group.
# Builds they share (Java, npm) take a lock. Each one's output is printed after all end; the
# matrix of all is merged from their JSON results. Tests marked `once` (not broker scenarios)
# run in the first pytest of each group of files only.
pids=() labels=() seen_groups=" "
for r in "${RUNS[@]}"; do
  read -r label broker g <<<"$r"
  once=0
  # (With COMPAT_SPLIT=2 the cluster target's pytest, group -1, takes no `once` tests: the
  # groups' first pytests have them.)
  case "$seen_groups" in *" $g "*) ;; *) [ "$g" -lt 0 ] && [ "$SPLIT" -gt 1 ] || once=1; seen_groups+="$g " ;; esac
  say "pytest against $broker${COMPAT_ONLY:+ (-k $COMPAT_ONLY)}$([ "$g" -lt 0 ] || echo ", file group $((g + 1)) of $SPLIT"), output in $RESULTS/pytest-$label.log"
  rm -f "$RESULTS/results-$label.json"
  (COMPAT_MATRIX="$RESULTS/matrix-$label.md" COMPAT_RESULTS_JSON="$RESULTS/results-$label.json" \
     run_pytest "$label" "$broker" "$g" "$once" "$@") >"$RESULTS/pytest-$label.log" 2>&1 &
  pids+=($!) labels+=("$label")
done
status=0 jsons=() empty=0
for i in "${!pids[@]}"; do
  s=0; wait "${pids[$i]}" || s=$?
  say "pytest $((i + 1)) of ${#pids[@]}, ${labels[$i]}: exit $s"
  cat "$RESULTS/pytest-${labels[$i]}.log"
  # 5: nothing collected there (COMPAT_ONLY picked only other pytests' scenarios).
  if [ "$s" -eq 5 ]; then empty=$((empty + 1)); continue; fi
  [ "$s" -eq 0 ] || status=$s
  jsons+=("$RESULTS/results-${labels[$i]}.json")
done
[ "$empty" -lt ${#pids[@]} ] || exit 5
(cd "$HERE/python" && "$VENV/bin/python" matrix.py "${jsons[@]}") || status=1
exit $status
