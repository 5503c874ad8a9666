#!/usr/bin/env bash
# The homework end to end, as local processes (no Docker): gregor (or the reference Apache
# Kafka), a private PostgreSQL, loms and three notifiers; the assertions are in e2e.py.
# Installs what it needs first: PostgreSQL from Debian's packages, and for the Kafka run
# java/maven and the reference Kafka's jars; builds loms/notifier (pinned go.mod/go.sum) and
# gregor (if its binary is missing).
#
#   compat-tests/homework/e2e.sh                 against gregor, the reference Kafka, both on SASL_SSL, then a three-broker gregor cluster
#   COMPAT_SKIP_KAFKA=1 compat-tests/homework/e2e.sh    gregor only
#
# Environment (never GREGOR_*: gregor rejects unknown GREGOR_* variables; they are stripped
# from every process this starts):
#   COMPAT_GREGOR_BIN      gregor binary (default $CARGO_TARGET_DIR/debug/gregor, built if missing)
#   COMPAT_SKIP_KAFKA=1 / COMPAT_SKIP_GREGOR=1
#   HOMEWORK_GREGOR_PORT (19692)  HOMEWORK_KAFKA_PORT (24692)  HOMEWORK_KAFKA_CONTROLLER_PORT (24693)
#   HOMEWORK_GREGOR_METRICS_PORT (HOMEWORK_GREGOR_PORT + 1): gregor's --metrics-listen
#   HOMEWORK_KAFKA_STATE (/tmp/homework-kafka)  HOMEWORK_PG_PORT (a free port of the services')
#   HOMEWORK_SERVICE_PORT (19760): first of the 40 ports loms, the notifiers and PostgreSQL take
#   HOMEWORK_SECURED=0: skip the SASL_SSL runs; HOMEWORK_SECURED_PORT (19720): their first port
#   (gregor's five listeners from there, Kafka's from there + 10)
#   HOMEWORK_CLUSTER=0: skip gregor-cluster (three brokers on HOMEWORK_CLUSTER_PORT.. +2, 19740,
#   over PostgreSQL on HOMEWORK_CLUSTER_PG_PORT and the next, 25472)
#   HOMEWORK_LOGDIR        keep every service's log there (default: temp dir, kept on failure)
#   COMPAT_CACHE_DIR       cache root (default ~/.cache/gregor): binaries in homework/
# Exit status 0 when every check passed on every broker.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
CACHE="${COMPAT_CACHE_DIR:-$HOME/.cache/gregor}"
export COMPAT_CACHE_DIR="$CACHE"
SKIP_KAFKA="${COMPAT_SKIP_KAFKA:-0}"
SKIP_GREGOR="${COMPAT_SKIP_GREGOR:-0}"
say() { echo "== $*"; }
die() { echo "homework e2e: ERROR: $*" >&2; exit 1; }
t0=$(date +%s)

source "$ROOT/scripts/deps.sh"
# Debian keeps initdb/pg_ctl under /usr/lib/postgresql/<ver>/bin; runuser is util-linux's.
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || apt_install postgresql
command -v go >/dev/null || die "the go toolchain is not on PATH (go.mod needs Go >= 1.26)"

brokers=()
if [ "$SKIP_GREGOR" != 1 ]; then
  TARGET="${CARGO_TARGET_DIR:-$CACHE/target}"
  BIN="${COMPAT_GREGOR_BIN:-$TARGET/debug/gregor}"
  if [ ! -x "$BIN" ]; then
    [ -n "${COMPAT_GREGOR_BIN:-}" ] && die "COMPAT_GREGOR_BIN=$BIN is not an executable"
    say "building gregor (cargo build --bin gregor, CARGO_TARGET_DIR=$TARGET)"
    (cd "$ROOT" && CARGO_TARGET_DIR="$TARGET" cargo build --quiet --bin gregor)
  fi
  brokers+=(gregor)
fi
if [ "$SKIP_KAFKA" != 1 ]; then
  command -v java >/dev/null || apt_install openjdk-17-jre-headless
  command -v mvn >/dev/null || apt_install maven
  "$ROOT/compat-tests/kafka/reference-kafka.sh" fetch
  brokers+=(kafka)
fi
[ ${#brokers[@]} -gt 0 ] || die "COMPAT_SKIP_KAFKA and COMPAT_SKIP_GREGOR both set: nothing to test"
# Then each again with SASL_SSL (HOMEWORK_SECURED=0: not)
if [ "${HOMEWORK_SECURED:-1}" != 0 ]; then
  for b in "${brokers[@]}"; do brokers+=("$b-sasl-ssl"); done
fi
# And gregor as three brokers over PostgreSQL with a synchronous standby (HOMEWORK_CLUSTER=0: not)
if [ "$SKIP_GREGOR" != 1 ] && [ "${HOMEWORK_CLUSTER:-1}" != 0 ]; then brokers+=(gregor-cluster); fi

BINDIR="$CACHE/homework"
mkdir -p "$BINDIR"
say "building loms and notifier (go build, pinned go.sum) into $BINDIR"
(cd "$HERE" && GOFLAGS="-mod=readonly -buildvcs=false" go build -o "$BINDIR/" ./loms ./notifier)

say "homework end to end against: ${brokers[*]} (build/install took $(( $(date +%s) - t0 )) s)"
args=(--bindir "$BINDIR" --brokers "$(IFS=,; echo "${brokers[*]}")"
      --gregor-port "${HOMEWORK_GREGOR_PORT:-19692}" --kafka-port "${HOMEWORK_KAFKA_PORT:-24692}"
      --gregor-metrics-port "${HOMEWORK_GREGOR_METRICS_PORT:-$(( ${HOMEWORK_GREGOR_PORT:-19692} + 1 ))}"
      --kafka-controller-port "${HOMEWORK_KAFKA_CONTROLLER_PORT:-24693}"
      --kafka-state "${HOMEWORK_KAFKA_STATE:-/tmp/homework-kafka}" --pg-port "${HOMEWORK_PG_PORT:-0}"
      --secured-port "${HOMEWORK_SECURED_PORT:-19720}"
      --cluster-port "${HOMEWORK_CLUSTER_PORT:-19740}" --cluster-pg-port "${HOMEWORK_CLUSTER_PG_PORT:-25472}")
[ "$SKIP_GREGOR" != 1 ] && args+=(--gregor-bin "$BIN")
[ -n "${HOMEWORK_LOGDIR:-}" ] && args+=(--logdir "$HOMEWORK_LOGDIR")
set +e
PYTHONDONTWRITEBYTECODE=1 python3 "$HERE/e2e.py" "${args[@]}"
status=$?
set -e
say "homework end to end: exit $status after $(( $(date +%s) - t0 )) s"
exit $status
