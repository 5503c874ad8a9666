#!/usr/bin/env bash
# The oracle: a single-node Apache Kafka 4.x (KRaft, broker+controller in one JVM) that the
# compatibility suite runs against beside gregor. Jars come from Maven Central through Maven
# (pom.xml beside this script) and are cached outside the clone.
#
#   reference-kafka.sh fetch                      download the jars (idempotent)
#   reference-kafka.sh libs                       fetch, print the jar directory
#   reference-kafka.sh version                    print the Kafka version in use
#   reference-kafka.sh connect-libs               fetch Kafka Connect's jars (connect-pom.xml),
#                                                 print their directory
#   reference-kafka.sh mirror-libs                fetch MirrorMaker 2's jars (mirror-pom.xml),
#                                                 print their directory
#   reference-kafka.sh start [NAME:PARTITIONS...]  fetch, format a fresh temp log dir, start,
#                                                 wait until ready, create the topics
#                                                 (default: loms.order-events:2, like gregor)
#   reference-kafka.sh stop                       stop it and delete its data
#   reference-kafka.sh status                     exit 0 if it runs
#   reference-kafka.sh topic NAME PARTITIONS      create a topic (if it does not exist)
#   reference-kafka.sh kill9                      kill -9 it, keeping its data (crash tests)
#   reference-kafka.sh restart                    start it again on the data kill9 left
#
# Environment (never GREGOR_*: gregor rejects unknown GREGOR_* variables):
#   COMPAT_CACHE_DIR              cache root (default ~/.cache/gregor); jars in kafka-<ver>/libs
#   COMPAT_KAFKA_VERSION          the Kafka version (default: kafka.version in pom.xml, 4.4.0);
#                                 e.g. COMPAT_KAFKA_VERSION=4.3.1 for the previous reference.
#                                 The same variable picks compat-tests/java's kafka-clients
#                                 and bench's kafka-tools.
#   COMPAT_CONNECT_VERSION        Kafka Connect's version, the worker test_connect.py runs
#                                 with its own connectors (default: connect.version in
#                                 connect-pom.xml, 4.4.0); jars in kafka-<ver>/connect-libs
#   COMPAT_MIRROR_VERSION         MirrorMaker 2's version, with its own Connect runtime
#                                 (default: mirror.version in mirror-pom.xml, 4.3.1); jars in
#                                 kafka-<ver>/mirror-libs
#   COMPAT_KAFKA_PORT             client listener (default 24092), on 127.0.0.1
#   COMPAT_KAFKA_CONTROLLER_PORT  KRaft controller listener (default 24093)
#   COMPAT_KAFKA_STATE            pid file, config, logs, data (default /tmp/gregor-compat-kafka)
#   COMPAT_KAFKA_HEAP             JVM heap (default 512m)
#   COMPAT_KAFKA_START_TIMEOUT    seconds to wait for the port at start and restart (default
#                                 120; bench/scaling.sh raises it: recovering 10,000
#                                 partitions after kill -9 takes longer)
#   COMPAT_KAFKA_EXTRA_CONFIG     lines appended to server.properties (e.g. an authorizer)
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
CACHE="${COMPAT_CACHE_DIR:-$HOME/.cache/gregor}"
VERSION="${COMPAT_KAFKA_VERSION:-$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$HERE/pom.xml")}"
LIBS="$CACHE/kafka-$VERSION/libs"
CONNECT_VERSION="${COMPAT_CONNECT_VERSION:-$(sed -n 's:.*<connect.version>\(.*\)</connect.version>.*:\1:p' "$HERE/connect-pom.xml")}"
CONNECT_LIBS="$CACHE/kafka-$CONNECT_VERSION/connect-libs"
MIRROR_VERSION="${COMPAT_MIRROR_VERSION:-$(sed -n 's:.*<mirror.version>\(.*\)</mirror.version>.*:\1:p' "$HERE/mirror-pom.xml")}"
MIRROR_LIBS="$CACHE/kafka-$MIRROR_VERSION/mirror-libs"
PORT="${COMPAT_KAFKA_PORT:-24092}"
CPORT="${COMPAT_KAFKA_CONTROLLER_PORT:-24093}"
STATE="${COMPAT_KAFKA_STATE:-${TMPDIR:-/tmp}/gregor-compat-kafka}"
HEAP="${COMPAT_KAFKA_HEAP:-512m}"
PIDFILE="$STATE/kafka.pid"

log() { echo "[reference-kafka] $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

need_tools() {
  command -v java >/dev/null || die "java (17+) is not installed (apt-get install -y openjdk-17-jre-headless)"
  command -v mvn >/dev/null || die "mvn is not installed (apt-get install -y maven)"
}

# fetch_jars POM PROPERTY VERSION DIR JAR: the POM's runtime jars at PROPERTY=VERSION into DIR,
# which holds JAR when complete.
fetch_jars() {
  local pom="$1" prop="$2" version="$3" libs="$4" jar="$5"
  if [ -f "$libs/.complete" ]; then return 0; fi
  need_tools
  # Each version has its own directory, so versions coexist in the cache. A fetch fills a
  # private temp directory and renames it into place when complete: two scripts fetching at
  # once never see (or delete) each other's half-done download; the first rename wins.
  local dir tmp
  dir="$(dirname "$libs")"
  mkdir -p "$dir"
  # a partial download left by an older script (it wrote into $libs directly)
  [ -d "$libs" ] && [ ! -f "$libs/.complete" ] && rm -rf "$libs"
  tmp="$(mktemp -d "$libs.tmp.XXXXXX")"; chmod 755 "$tmp"
  log "fetching $(basename "$pom")'s jars ($prop=$version) from Maven Central into $libs"
  local mlog="$tmp.maven.log"
  if ! mvn -B -Dstyle.color=never -f "$pom" -D"$prop=$version" \
      dependency:copy-dependencies -DoutputDirectory="$tmp" >"$mlog" 2>&1; then
    grep -E 'ERROR|BUILD' "$mlog" >&2 || tail -30 "$mlog" >&2
    rm -rf "$tmp"
    die "maven could not fetch $(basename "$pom") at $version (log: $mlog)"
  fi
  ls "$tmp/$jar" >/dev/null || { rm -rf "$tmp"; die "$jar missing after fetch"; }
  touch "$tmp/.complete"
  mv "$mlog" "$libs.maven.log" 2>/dev/null || true
  if ! mv -T "$tmp" "$libs" 2>/dev/null; then
    rm -rf "$tmp"
    [ -f "$libs/.complete" ] || die "could not move the jars into $libs"
  fi
}

fetch() { fetch_jars "$HERE/pom.xml" kafka.version "$VERSION" "$LIBS" "kafka_2.13-$VERSION.jar"; }

# Kafka Connect's worker and MirrorMaker 2 (connect-pom.xml and mirror-pom.xml say why each has
# a version and directory of its own).
connect_fetch() {
  fetch_jars "$HERE/connect-pom.xml" connect.version "$CONNECT_VERSION" "$CONNECT_LIBS" \
    "connect-runtime-$CONNECT_VERSION.jar"
}
mirror_fetch() {
  fetch_jars "$HERE/mirror-pom.xml" mirror.version "$MIRROR_VERSION" "$MIRROR_LIBS" \
    "connect-mirror-$MIRROR_VERSION.jar"
}

running() { [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; }

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

jvm() { java -Xmx256m -Dlog4j2.configurationFile="$STATE/log4j2.properties" -cp "$LIBS/*" "$@"; }

write_config() {
  local data="$1"
  cat >"$STATE/server.properties" <<EOF
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=127.0.0.1:$CPORT
listeners=PLAINTEXT://127.0.0.1:$PORT,CONTROLLER://127.0.0.1:$CPORT
advertised.listeners=PLAINTEXT://127.0.0.1:$PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$data
num.partitions=1
default.replication.factor=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
# Share groups (KIP-932): Kafka 4.4 formats at metadata.version 4.4, whose bootstrap
# share.version is 2, so share groups are on without a --feature flag; their state topic must
# fit one broker.
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
min.insync.replicas=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=true
delete.topic.enable=true
log.retention.check.interval.ms=500
log.cleaner.backoff.ms=500
EOF
  # Settings a scenario adds (e.g. an authorizer), one per line.
  [ -z "${COMPAT_KAFKA_EXTRA_CONFIG:-}" ] || printf '%s\n' "$COMPAT_KAFKA_EXTRA_CONFIG" >>"$STATE/server.properties"
  cat >"$STATE/log4j2.properties" <<EOF
status = warn
appender.file.type = File
appender.file.name = file
appender.file.fileName = $STATE/server.log
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = warn
rootLogger.appenderRef.file.ref = file
logger.kafka.name = kafka.server.KafkaRaftServer
logger.kafka.level = info
EOF
}

# The port opens before the broker has registered with its controller; on a loaded machine
# that can outlast the admin client's 60 s timeout, so try again while the broker runs.
create_topic() {
  local name="$1" parts="$2" attempt
  for attempt in 1 2 3; do
    if jvm org.apache.kafka.tools.TopicCommand --bootstrap-server "127.0.0.1:$PORT" --create \
        --if-not-exists --topic "$name" --partitions "$parts" --replication-factor 1 >&2; then
      return 0
    fi
    running || { tail -50 "$STATE/stdout.log" "$STATE/server.log" >&2 2>/dev/null; die "kafka exited while creating $name"; }
    log "creating $name failed (attempt $attempt of 3)"
  done
  tail -50 "$STATE/server.log" >&2 2>/dev/null
  die "could not create topic $name"
}

# Start kafka.Kafka on the config in $STATE (appending to its logs) and wait for the port.
launch() {
  # setsid: the broker must outlive this script and not get the caller's terminal signals.
  setsid java -Xms"$HEAP" -Xmx"$HEAP" -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
    -Djava.awt.headless=true -Dlog4j2.configurationFile="$STATE/log4j2.properties" \
    -cp "$LIBS/*" kafka.Kafka "$STATE/server.properties" \
    >>"$STATE/stdout.log" 2>&1 </dev/null &
  echo $! >"$PIDFILE"
  local limit="${COMPAT_KAFKA_START_TIMEOUT:-120}" deadline
  deadline=$((SECONDS + limit))
  until port_open "$PORT"; do
    running || { tail -50 "$STATE/stdout.log" "$STATE/server.log" >&2 2>/dev/null; die "kafka exited during start-up"; }
    [ $SECONDS -lt $deadline ] || die "kafka did not open port $PORT within $limit s (see $STATE)"
    sleep 0.2
  done
}

start() {
  if running; then die "already running (pid $(cat "$PIDFILE")); stop it first"; fi
  port_open "$PORT" && die "port $PORT is already in use"
  port_open "$CPORT" && die "port $CPORT is already in use"
  fetch
  need_tools
  rm -rf "$STATE"; mkdir -p "$STATE"
  local data="$STATE/data" t0 cluster_id
  t0=$(date +%s%3N)
  write_config "$data"
  # A KRaft cluster id is 16 random bytes, base64url without padding; one starting with '-'
  # would read as an option, so draw again.
  cluster_id=-
  while [ "${cluster_id:0:1}" = - ]; do
    cluster_id=$(head -c16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')
  done
  jvm kafka.tools.StorageTool format --cluster-id="$cluster_id" --config="$STATE/server.properties" \
    --standalone >"$STATE/format.log" 2>&1 || { cat "$STATE/format.log" >&2; die "storage format failed"; }
  log "starting Kafka $VERSION on 127.0.0.1:$PORT (controller $CPORT, data $data)"
  launch
  local topics=("$@")
  [ ${#topics[@]} -gt 0 ] || topics=("loms.order-events:2")
  local spec
  for spec in "${topics[@]}"; do create_topic "${spec%%:*}" "${spec##*:}"; done
  local ms=$(( $(date +%s%3N) - t0 ))
  log "ready in $((ms / 1000)).$(printf %03d $((ms % 1000))) s (pid $(cat "$PIDFILE"))"
}

stop() {
  if ! running; then
    log "not running"
    rm -rf "$STATE"
    return 0
  fi
  local pid; pid=$(cat "$PIDFILE")
  kill "$pid" 2>/dev/null || true
  local deadline=$((SECONDS + 30))
  while kill -0 "$pid" 2>/dev/null; do
    if [ $SECONDS -ge $deadline ]; then log "still alive after 30 s: SIGKILL"; kill -9 "$pid" 2>/dev/null || true; fi
    sleep 0.2
  done
  log "stopped (pid $pid)"
  rm -rf "$STATE"
}

# kill -9 (crash tests): the broker dies at once, its data dir and config stay for `restart`.
kill9() {
  running || die "not running"
  local pid; pid=$(cat "$PIDFILE")
  kill -9 "$pid" 2>/dev/null || true
  # Wait until it is gone, or is a zombie nobody reaps (kill -0 still succeeds on one) whose
  # threads have all exited: the leader turns Z while other threads still hold the sockets.
  local deadline=$((SECONDS + 30))
  while kill -0 "$pid" 2>/dev/null; do
    if [ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" = Z ] && ! port_open "$PORT" \
        && ! port_open "$CPORT"; then break; fi
    [ $SECONDS -lt $deadline ] || die "pid $pid still alive 30 s after kill -9"
    sleep 0.05
  done
  rm -f "$PIDFILE"
  log "killed -9 (pid $pid); data kept in $STATE"
}

# Start again on the data left by kill9 (no format, topics and committed offsets as they were).
restart() {
  if running; then die "already running (pid $(cat "$PIDFILE"))"; fi
  [ -f "$STATE/server.properties" ] || die "nothing to restart in $STATE (use start)"
  port_open "$PORT" && die "port $PORT is already in use"
  port_open "$CPORT" && die "port $CPORT is already in use"
  need_tools
  # The restarted node registers anew only when the killed one's broker session has expired
  # (broker.session.timeout.ms, 9 s by default): keep that wait short for crash tests.
  sed -i '/^broker\.session\.timeout\.ms=/d; /^broker\.heartbeat\.interval\.ms=/d' "$STATE/server.properties"
  printf 'broker.session.timeout.ms=3000\nbroker.heartbeat.interval.ms=500\n' >>"$STATE/server.properties"
  local t0; t0=$(date +%s%3N)
  log "restarting Kafka $VERSION on 127.0.0.1:$PORT on the data in $STATE"
  launch
  local ms=$(( $(date +%s%3N) - t0 ))
  log "port open in $((ms / 1000)).$(printf %03d $((ms % 1000))) s (pid $(cat "$PIDFILE"))"
}

case "${1:-}" in
  fetch) fetch ;;
  libs) fetch; echo "$LIBS" ;;
  connect-libs) connect_fetch; echo "$CONNECT_LIBS" ;;
  mirror-libs) mirror_fetch; echo "$MIRROR_LIBS" ;;
  version) echo "$VERSION" ;;
  start) shift; start "$@" ;;
  stop) stop ;;
  status) running ;;
  kill9) kill9 ;;
  restart) restart ;;
  topic) [ $# -eq 3 ] || die "usage: $0 topic NAME PARTITIONS"; running || die "not running"; create_topic "$2" "$3" ;;
  *) echo "usage: $0 fetch|libs|version|connect-libs|mirror-libs|start [NAME:PARTITIONS...]|stop|status|topic NAME PARTITIONS|kill9|restart" >&2; exit 2 ;;
esac
