# shellcheck shell=bash disable=SC2034  # globals for the scripts that source this
# Shared by bench/run.sh, bench/scaling.sh and bench/gateways.sh (sourced, not run): building gregor and the
# franz-go client, starting and stopping each kind of broker, and the per-process measures.
#
# The caller sets HERE (bench/), then calls bench_init; the functions below use these globals:
#   BROKER   the broker being measured: gregor, gregor-nofsync, gregor-<name> (a binary of
#            BENCH_GREGOR_<NAME>_BIN), gregor-cluster (and gregor-cluster-<name> with
#            BENCH_GREGOR_CLUSTER_<NAME>_BIN), kafka, kafka-flush, kafka-3, tansu, krabka
#   PIDS     its processes (one, or three for the clusters): CPU and peak RSS sum over them
#   BOOT     its bootstrap servers; RF the replication factor topics get; TOPIC_CONFIG k=v,...
#   GREGOR_EXTRA_ARGS  more flags for every gregor process (an array)
#
# Ports (defaults in the ranges the benches have used): gregor BENCH_GREGOR_PORT (19192),
# gregor-cluster BENCH_CLUSTER_PORT.. +2 (19195), its PostgreSQL BENCH_PG_PORTS (25462,25463
# primary,standby), Kafka BENCH_KAFKA_PORT / BENCH_KAFKA_CONTROLLER_PORT (24192/24193), kafka-3
# BENCH_KAFKA3_PORT.. +2 and their controllers BENCH_KAFKA3_PORT+10.. +12 (24200), tansu
# BENCH_TANSU_PORT (19198) on gregor-cluster's PostgreSQL ports, krabka BENCH_KRABKA_PORT (19199;
# its KRaft controller always takes port 9093).

ROOT="$(dirname "$HERE")"
CACHE="${CACHE_ROOT:-$HOME/.cache/gregor}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$CACHE/target}"
GPORT="${BENCH_GREGOR_PORT:-19192}"
KPORT="${BENCH_KAFKA_PORT:-24192}"
CLUSTER_PORT="${BENCH_CLUSTER_PORT:-19195}"
PG_PORTS="${BENCH_PG_PORTS:-25462,25463}"
KAFKA3_PORT="${BENCH_KAFKA3_PORT:-24200}"
KAFKA3_HEAP="${BENCH_KAFKA3_HEAP:-1g}"
TANSU_PORT="${BENCH_TANSU_PORT:-19198}"
# Tansu 0.6.0 from crates.io, built with its postgres feature (bench/tansu/README.md).
TANSU="${BENCH_TANSU_BIN:-$CACHE/tansu/bin/tansu}"
KRABKA_PORT="${BENCH_KRABKA_PORT:-19199}"
# Krabka (bench/krabka/README.md): BENCH_KRABKA_BIN, or bench/krabka/build.sh's (built if missing),
# and its log-dir formatter, BENCH_KRABKA_FORMAT_BIN (default: krabka-format-<rev> beside it).
KRABKA="${BENCH_KRABKA_BIN:-}"
KRABKA_FORMAT="${BENCH_KRABKA_FORMAT_BIN:-}"
REF="$ROOT/compat-tests/kafka/reference-kafka.sh"
PGCLUSTER="$ROOT/compat-tests/python/pgcluster.py"
export COMPAT_KAFKA_PORT=$KPORT COMPAT_KAFKA_CONTROLLER_PORT="${BENCH_KAFKA_CONTROLLER_PORT:-24193}"
export COMPAT_KAFKA_STATE="${BENCH_KAFKA_STATE:-/tmp/gregor-bench-kafka}" COMPAT_KAFKA_HEAP="${BENCH_KAFKA_HEAP:-1g}"
TICK=$(getconf CLK_TCK)
BROKER='' PIDS='' BOOT='' TOPIC_CONFIG='' RF=1 GPID='' DATA='' PGDIR='' PG_PRIMARY='' START_MS=0
CLUSTER_PIDS=() KAFKA3_PIDS=() TANSU_PID= KRABKA_PID=
GREGOR_EXTRA_ARGS=()

log() { echo "[bench $(date -u +%H:%M:%S)] $*" >&2; }
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
now_ms() { date +%s%3N; }

# Sets GREGOR: BENCH_GREGOR_BIN, or the release build (built now).
build_gregor() {
  GREGOR="${BENCH_GREGOR_BIN:-}"
  if [ -z "$GREGOR" ]; then
    log "building gregor (release)"
    cargo build --release --quiet --bin gregor --manifest-path "$ROOT/Cargo.toml"
    GREGOR="$CARGO_TARGET_DIR/release/gregor"
  fi
  # How many of the release layout's hot functions this binary has (code-layout/README.md).
  log "code layout: $("$ROOT/code-layout/order.py" check "$GREGOR" "$ROOT/code-layout/hot-functions.txt" 2>/dev/null ||
    echo "not checked (not an ELF binary?)")"
}

# Build (or take BENCH_GREGOR_BIN) gregor and the franz-go client, fetch the reference Kafka's
# jars; sets GREGOR, FRANZ, KAFKA_VERSION, LIBS, DATA (a temp dir removed on exit).
bench_init() {
  mkdir -p "$OUT"
  build_gregor
  log "building the franz-go client"
  FRANZ="$OUT/gregor-bench-franz"
  (cd "$HERE/franz" && go build -o "$FRANZ" .)
  # The reference Kafka's jars (kafka.version in compat-tests/kafka/pom.xml, or
  # COMPAT_KAFKA_VERSION, e.g. 4.3.1): the broker and the kafka-tools load generators alike.
  KAFKA_VERSION="$("$REF" version)"
  LIBS="$("$REF" libs)"
  log "reference Apache Kafka $KAFKA_VERSION ($LIBS)"
  DATA="$(mktemp -d "${TMPDIR:-/tmp}/gregor-bench.XXXXXX")"
  chmod 755 "$DATA" # PostgreSQL (gregor-cluster) runs as its own user under it
  trap bench_cleanup EXIT
  trap 'exit 143' INT TERM # so that the EXIT trap stops the brokers
}

bench_cleanup() {
  if [ -n "$BROKER" ]; then stop_broker || true; fi
  "$REF" stop >/dev/null 2>&1 || true
  if [ -n "$DATA" ] && [ "${BENCH_KEEP_DATA:-}" = 1 ]; then
    log "kept $DATA (BENCH_KEEP_DATA=1: brokers' data and logs)"
  elif [ -n "$DATA" ]; then
    rm -rf "$DATA"
  fi
}

cpu_ticks() { # utime+stime summed over PIDS (a process gone meanwhile counts 0)
  local p
  for p in $PIDS; do cat "/proc/$p/stat" 2>/dev/null || true; done |
    sed 's/.*) //' | awk '{s += $12 + $13} END {print s + 0}'
}
# Peak RSS per workload: reset the high-water mark before, read it after (summed over PIDS).
reset_peak() { local p; for p in $PIDS; do echo 5 >"/proc/$p/clear_refs" 2>/dev/null || true; done; }
peak_kib() { local p; for p in $PIDS; do awk '/VmHWM/ {print $2}' "/proc/$p/status" 2>/dev/null; done | awk '{s += $1} END {print s}'; }
rss_kib() { local p; for p in $PIDS; do awk '/VmRSS/ {print $2}' "/proc/$p/status" 2>/dev/null; done | awk '{s += $1} END {print s}'; }
mib() { echo "scale=1; $1 / 1024" | bc; } # KiB → MiB, one decimal

java_tool() { java -Xmx1g -cp "$LIBS/*" -Dlog4j2.level=warn "org.apache.kafka.tools.$1" "${@:2}" 2>/dev/null; }

CREATED=() # topics create made, for drop_topics
create() { # topic partitions [extra topic configs k=v,...]
  local cfg="$TOPIC_CONFIG" kv args=()
  [ -z "${3:-}" ] || cfg="${cfg:+$cfg,}$3"
  CREATED+=("$1")
  if ! speaks_franz; then
    for kv in ${cfg//,/ }; do args+=(--config "$kv"); done
    java_tool TopicCommand --bootstrap-server "$BOOT" --create --topic "$1" --partitions "$2" \
      --replication-factor "$RF" "${args[@]}" >/dev/null
    return
  fi
  "$FRANZ" create -brokers "$BOOT" -topic "$1" -partitions "$2" -rf "$RF" -config "$cfg" >/dev/null
}

# Deletes the topics made since the last call (and waits until the broker lists none of them).
drop_topics() {
  [ "${#CREATED[@]}" -gt 0 ] || return 0
  local t
  if ! speaks_franz; then
    for t in "${CREATED[@]}"; do java_tool TopicCommand --bootstrap-server "$BOOT" --delete --topic "$t" >/dev/null || true; done
  else
    "$FRANZ" delete -brokers "$BOOT" -topic "$(IFS=,; echo "${CREATED[*]}")" >/dev/null || log "    could not delete ${CREATED[*]}"
  fi
  CREATED=()
}

# Tansu 0.6.0 closes the connection at franz-go's (and librdkafka's) ApiVersions request: only
# the Java client's workloads run on it.
speaks_franz() { [ "$BROKER" != tansu ]; }

# ---------------------------------------------------------------------------------- brokers

gregor_bin() { # the binary for $BROKER
  case "$BROKER" in
    gregor | gregor-nofsync | gregor-cluster) echo "$GREGOR" ;;
    *) local var; var="BENCH_GREGOR_$(echo "${BROKER#gregor-}" | tr a-z- A-Z_)_BIN"
       echo "${!var:?$BROKER needs $var}" ;;
  esac
}

# gregor alone on a fresh data directory (or the one kill9_broker left, with "keep").
gregor_launch() { # [keep]
  [ "${1:-}" = keep ] || { rm -rf "$DATA/gregor" && mkdir -p "$DATA/gregor"; }
  local fsync=always; [ "$BROKER" = gregor-nofsync ] && fsync=never
  "$(gregor_bin)" --listen "127.0.0.1:$GPORT" --data-dir "$DATA/gregor" --log warn --fsync "$fsync" \
    "${GREGOR_EXTRA_ARGS[@]}" &
  GPID=$! PIDS=$GPID BOOT="127.0.0.1:$GPORT"
  until port_open "$GPORT"; do
    kill -0 "$GPID" 2>/dev/null || { log "gregor exited during start-up"; return 1; }
    sleep 0.002
  done
}

# Three gregor brokers over a PostgreSQL primary with one synchronous standby (pgcluster.py,
# the compatibility suite's harness, with fsync on): every produce is committed on both
# database servers before it is acknowledged.
cluster_launch() {
  PGDIR="$DATA/pg"
  local url node port addrs=() t0
  url="$(python3 "$PGCLUSTER" start "$PGDIR" --ports "$PG_PORTS" --fsync 2>/dev/null | head -1)"
  [ -n "$url" ] || { log "PostgreSQL did not start (logs in $PGDIR)"; return 1; }
  PG_PRIMARY="${PG_PORTS%%,*}"
  t0=$(now_ms)
  CLUSTER_PIDS=()
  for node in 1 2 3; do
    port=$((CLUSTER_PORT + node - 1))
    port_open "$port" && { log "port $port (gregor-cluster) is in use"; return 1; }
    rm -rf "$DATA/b$node" && mkdir -p "$DATA/b$node"
    "$(gregor_bin)" --listen "127.0.0.1:$port" --node-id "$node" --data-dir "$DATA/b$node" \
      --storage "$url" --log warn "${GREGOR_EXTRA_ARGS[@]}" >>"$DATA/gregor-cluster-$node.log" 2>&1 &
    CLUSTER_PIDS+=($!)
    addrs+=("127.0.0.1:$port")
    # The first broker stores the cluster id before it listens; the others start once it
    # does. (Builds before the cluster id was claimed with a compare-and-swap let brokers
    # started at once on an empty database each keep their own id; franz-go then refused
    # the odd one out with REBOOTSTRAP_REQUIRED and its consumers hung.)
    if [ "$node" = 1 ]; then
      until port_open "$port"; do
        [ $(($(now_ms) - t0)) -lt 60000 ] || { log "gregor-cluster: $port not listening after 60 s"; return 1; }
        sleep 0.01
      done
    fi
  done
  for port in $((CLUSTER_PORT)) $((CLUSTER_PORT + 1)) $((CLUSTER_PORT + 2)); do
    until port_open "$port"; do
      [ $(($(now_ms) - t0)) -lt 60000 ] || { log "gregor-cluster: $port not listening after 60 s"; return 1; }
      sleep 0.01
    done
  done
  START_MS=$(($(now_ms) - t0))
  PIDS="${CLUSTER_PIDS[*]}" BOOT="$(IFS=,; echo "${addrs[*]}")"
  # An experiment on the database (e.g. a table's storage), once gregor has made its tables.
  if [ -n "${BENCH_PG_SQL:-}" ]; then
    psql -X -q -h 127.0.0.1 -p "$PG_PRIMARY" -U postgres -d gregor -v ON_ERROR_STOP=1 -c "$BENCH_PG_SQL"
  fi
}

cluster_stop() {
  local p
  for p in "${CLUSTER_PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${CLUSTER_PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  CLUSTER_PIDS=()
  python3 "$PGCLUSTER" stop "$PGDIR" >/dev/null 2>&1 || true
  [ "${BENCH_KEEP_DATA:-}" = 1 ] || rm -rf "$PGDIR" "$DATA"/b[123]
}

# Tansu on the same PostgreSQL as gregor-cluster (a primary with one synchronous standby,
# fsync on), its tables made from its own schema (bench/tansu/010-schema.sql, v0.6.0's
# etc/initdb.d). One broker: Tansu's brokers share the database and do not replicate.
tansu_launch() {
  [ -x "$TANSU" ] || { log "tansu: no binary at $TANSU (see bench/tansu/README.md)"; return 1; }
  # Kafka 4.4's Java client sends ApiVersions v5 naming the cluster on every connection after
  # the bootstrap one, and Tansu 0.6.0 closes it: no Produce ever reaches it.
  case "$KAFKA_VERSION" in
    4.[4-9]*) log "tansu: the Java $KAFKA_VERSION client is cut off at its second ApiVersions; run with COMPAT_KAFKA_VERSION=4.3.1"; return 1 ;;
  esac
  PGDIR="$DATA/pg"
  local url t0
  url="$(python3 "$PGCLUSTER" start "$PGDIR" --ports "$PG_PORTS" --fsync 2>/dev/null | head -1)"
  [ -n "$url" ] || { log "PostgreSQL did not start (logs in $PGDIR)"; return 1; }
  PG_PRIMARY="${PG_PORTS%%,*}"
  PGPASSWORD=gregor-secret psql -X -q -h 127.0.0.1 -p "$PG_PRIMARY" -U gregor -d gregor \
    -v ON_ERROR_STOP=1 -f "$HERE/tansu/010-schema.sql" >/dev/null
  port_open "$TANSU_PORT" && { log "port $TANSU_PORT (tansu) is in use"; return 1; }
  t0=$(now_ms)
  "$TANSU" broker --storage-engine "postgres://gregor:gregor-secret@127.0.0.1:$PG_PRIMARY/gregor" \
    --listener-url "tcp://127.0.0.1:$TANSU_PORT" --advertised-listener-url "tcp://127.0.0.1:$TANSU_PORT" \
    --cluster-id gregor-bench >>"$DATA/tansu.log" 2>&1 &
  TANSU_PID=$!
  until port_open "$TANSU_PORT"; do
    kill -0 "$TANSU_PID" 2>/dev/null || { log "tansu exited during start-up ($DATA/tansu.log)"; return 1; }
    [ $(($(now_ms) - t0)) -lt 60000 ] || { log "tansu: $TANSU_PORT not listening after 60 s"; return 1; }
    sleep 0.01
  done
  START_MS=$(($(now_ms) - t0))
  PIDS=$TANSU_PID BOOT="127.0.0.1:$TANSU_PORT"
}

tansu_stop() {
  [ -z "$TANSU_PID" ] || { kill "$TANSU_PID" 2>/dev/null || true; wait "$TANSU_PID" 2>/dev/null || true; }
  TANSU_PID=
  python3 "$PGCLUSTER" stop "$PGDIR" >/dev/null 2>&1 || true
  [ "${BENCH_KEEP_DATA:-}" = 1 ] || rm -rf "$PGDIR"
}

# Krabka, one node on a fresh formatted directory (or the one kill9_broker left, with "keep").
# It acknowledges from the page cache, as Kafka does by default: compare it with gregor-nofsync.
krabka_launch() { # [keep]
  [ -n "$KRABKA" ] || KRABKA="$("$HERE/krabka/build.sh")"
  local t0 dir="$DATA/krabka"
  if [ "${1:-}" != keep ]; then
    rm -rf "$dir"
    [ -n "$KRABKA_FORMAT" ] || KRABKA_FORMAT="$(dirname "$KRABKA")/$(basename "$KRABKA" | sed 's/^krabka-/krabka-format-/')"
    "$KRABKA_FORMAT" --log-dir "$dir" >/dev/null
  fi
  port_open "$KRABKA_PORT" && { log "port $KRABKA_PORT (krabka) is in use"; return 1; }
  t0=$(now_ms)
  RUST_LOG=warn "$KRABKA" --listen-addr "127.0.0.1:$KRABKA_PORT" --log-dir "$dir" \
    --metrics-listen-addr none >>"$DATA/krabka.log" 2>&1 &
  KRABKA_PID=$!
  until port_open "$KRABKA_PORT"; do
    kill -0 "$KRABKA_PID" 2>/dev/null || { log "krabka exited during start-up ($DATA/krabka.log)"; return 1; }
    sleep 0.002
  done
  START_MS=$(($(now_ms) - t0))
  PIDS=$KRABKA_PID BOOT="127.0.0.1:$KRABKA_PORT"
}

krabka_stop() { # [-9]
  [ -z "$KRABKA_PID" ] || { kill "${1:--TERM}" "$KRABKA_PID" 2>/dev/null || true; wait "$KRABKA_PID" 2>/dev/null || true; }
  KRABKA_PID=
}

# Whether $BROKER keeps its data in PostgreSQL (its servers' CPU and counters are recorded).
on_postgres() { [[ "$BROKER" == gregor-cluster* || "$BROKER" == tansu ]]; }

# The PostgreSQL servers' processes (both postmasters and their children), for their CPU.
pg_pids() {
  local d pm
  for d in primary standby; do
    pm=$(head -1 "$PGDIR/$d/postmaster.pid" 2>/dev/null) || continue
    echo "$pm"; pgrep -P "$pm" || true
  done
}

# PostgreSQL's view of the database gregor: transactions committed (read-only ones too),
# WAL written, WAL fsyncs (one per group commit of the server) and record-batch rows inserted.
pg_counters() { # → "xact_commit wal_bytes wal_sync batch_rows"
  psql -X -Atq -h 127.0.0.1 -p "$PG_PRIMARY" -U postgres -d gregor -F ' ' -c "SELECT pg_stat_clear_snapshot();
    SELECT (SELECT xact_commit FROM pg_stat_database WHERE datname = 'gregor'),
      pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::bigint, (SELECT wal_sync FROM pg_stat_wal),
      (SELECT coalesce(sum(n_tup_ins), 0) FROM pg_stat_user_tables
       WHERE relname IN ('gregor_batches', 'record_default'))" |
    tail -1
}

# Apache Kafka as three combined-mode KRaft nodes (broker and controller in each JVM), one
# cluster id formatted on all three, a static controller quorum; topics RF 3 with
# min.insync.replicas=2 (acks=all waits for two copies, in memory: Kafka's default, no fsync).
kafka3_config() { # node
  local n="$1" voters
  voters="1@127.0.0.1:$((KAFKA3_PORT + 10)),2@127.0.0.1:$((KAFKA3_PORT + 11)),3@127.0.0.1:$((KAFKA3_PORT + 12))"
  mkdir -p "$DATA/k$n"
  cat >"$DATA/k$n/server.properties" <<EOF
process.roles=broker,controller
node.id=$n
controller.quorum.voters=$voters
listeners=PLAINTEXT://127.0.0.1:$((KAFKA3_PORT + n - 1)),CONTROLLER://127.0.0.1:$((KAFKA3_PORT + 9 + n))
advertised.listeners=PLAINTEXT://127.0.0.1:$((KAFKA3_PORT + n - 1))
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$DATA/k$n/data
num.partitions=1
default.replication.factor=3
min.insync.replicas=2
offsets.topic.replication.factor=3
transaction.state.log.replication.factor=3
transaction.state.log.min.isr=2
share.coordinator.state.topic.replication.factor=3
share.coordinator.state.topic.min.isr=2
group.initial.rebalance.delay.ms=0
file.delete.delay.ms=1000
EOF
  cat >"$DATA/k$n/log4j2.properties" <<EOF
status = warn
appender.file.type = File
appender.file.name = file
appender.file.fileName = $DATA/k$n/server.log
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = warn
rootLogger.appenderRef.file.ref = file
EOF
}

kafka3_launch() {
  local n id t0
  id=-
  while [ "${id:0:1}" = - ]; do id=$(head -c16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n'); done
  for n in 1 2 3; do
    rm -rf "$DATA/k$n"
    kafka3_config "$n"
    java -Xmx256m -Dlog4j2.configurationFile="$DATA/k$n/log4j2.properties" -cp "$LIBS/*" \
      kafka.tools.StorageTool format --cluster-id="$id" --config="$DATA/k$n/server.properties" \
      >"$DATA/k$n/format.log" 2>&1 || { cat "$DATA/k$n/format.log" >&2; return 1; }
  done
  t0=$(now_ms)
  KAFKA3_PIDS=()
  for n in 1 2 3; do
    java -Xms"$KAFKA3_HEAP" -Xmx"$KAFKA3_HEAP" -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
      -Djava.awt.headless=true -Dlog4j2.configurationFile="$DATA/k$n/log4j2.properties" \
      -cp "$LIBS/*" kafka.Kafka "$DATA/k$n/server.properties" >>"$DATA/k$n/stdout.log" 2>&1 </dev/null &
    KAFKA3_PIDS+=($!)
  done
  for n in 1 2 3; do
    until port_open $((KAFKA3_PORT + n - 1)); do
      [ $(($(now_ms) - t0)) -lt 180000 ] || { log "kafka-3 node $n not listening after 180 s"; return 1; }
      sleep 0.1
    done
  done
  START_MS=$(($(now_ms) - t0))
  PIDS="${KAFKA3_PIDS[*]}"
  BOOT="127.0.0.1:$KAFKA3_PORT,127.0.0.1:$((KAFKA3_PORT + 1)),127.0.0.1:$((KAFKA3_PORT + 2))"
}

kafka3_stop() {
  local p
  for p in "${KAFKA3_PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${KAFKA3_PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  KAFKA3_PIDS=()
  rm -rf "$DATA"/k[123]
}

# Start $BROKER fresh; sets PIDS, BOOT, RF, TOPIC_CONFIG and START_MS (exec to listening;
# Kafka alone: a restart of the freshly formatted broker, so the format is not counted).
start_broker() {
  RF=1 TOPIC_CONFIG=
  case "$BROKER" in
    gregor-cluster | gregor-cluster-*)
      cluster_launch
      RF=3
      ;;
    gregor | gregor-*)
      # The previous run's data (gigabytes) goes before the clock starts: deleting it took
      # ~2 s of the start-up figure in every run but the first.
      rm -rf "$DATA/gregor" && mkdir -p "$DATA/gregor"
      local t0; t0=$(now_ms)
      gregor_launch keep
      START_MS=$(($(now_ms) - t0))
      ;;
    kafka | kafka-flush)
      "$REF" start bench-warmup:1 2>>"$OUT/kafka.log" || { log "kafka did not start ($OUT/kafka.log)"; return 1; }
      "$REF" kill9 2>>"$OUT/kafka.log"
      restart_broker
      [ "$BROKER" = kafka-flush ] && TOPIC_CONFIG=flush.messages=1
      ;;
    kafka-3)
      kafka3_launch
      RF=3
      ;;
    tansu) tansu_launch ;;
    krabka) krabka_launch ;;
    *) log "unknown broker $BROKER"; return 1 ;;
  esac
  # Until the brokers serve metadata and create topics (Kafka's sessions register, gregor's
  # cluster members see each other).
  local t=0
  until create "bench-ready-$RANDOM" 1 2>/dev/null; do
    t=$((t + 1)); [ $t -lt 240 ] || { log "$BROKER creates no topic"; return 1; }
    sleep 0.5
  done
}

stop_broker() {
  case "$BROKER" in
    gregor-cluster | gregor-cluster-*) cluster_stop ;;
    gregor | gregor-*) if [ -n "$GPID" ]; then kill "$GPID" 2>/dev/null; wait "$GPID" 2>/dev/null || true; GPID=; fi ;;
    kafka-3) kafka3_stop ;;
    kafka | kafka-flush) "$REF" stop >/dev/null 2>&1 ;;
    tansu) tansu_stop ;;
    krabka) krabka_stop ;;
  esac
  PIDS=
}

# kill -9 of a single broker (gregor, kafka or krabka), keeping its data for restart_broker.
kill9_broker() {
  case "$BROKER" in
    gregor | gregor-*) kill -9 "$GPID"; wait "$GPID" 2>/dev/null || true; GPID= ;;
    kafka | kafka-flush) "$REF" kill9 >/dev/null 2>&1 ;;
    krabka) krabka_stop -9 ;;
  esac
  PIDS=
}

# Start a single broker again on the data kill9_broker left; START_MS: exec to listening port.
restart_broker() {
  case "$BROKER" in
    gregor | gregor-*)
      local t0; t0=$(now_ms)
      gregor_launch keep
      START_MS=$(($(now_ms) - t0))
      ;;
    kafka | kafka-flush)
      local line
      line=$("$REF" restart 2>&1 | tee -a "$OUT/kafka.log" | grep 'port open in') ||
        { log "kafka did not restart: $(tail -3 "$OUT/kafka.log")"; return 1; }
      START_MS=$(echo "$line" | sed -E 's/.*port open in ([0-9]+)\.([0-9]+) s.*/\1\2/' | sed 's/^0*//')
      PIDS=$(cat "$COMPAT_KAFKA_STATE/kafka.pid") BOOT="127.0.0.1:$KPORT"
      ;;
    krabka) krabka_launch keep ;;
  esac
}

# The broker's data directory (for sizes and page-cache eviction).
data_dir() {
  case "$BROKER" in
    gregor | gregor-*) echo "$DATA/gregor" ;;
    kafka | kafka-flush) echo "$COMPAT_KAFKA_STATE/data" ;;
    krabka) echo "$DATA/krabka" ;;
  esac
}
