#!/usr/bin/env bash
# kafka-ui (kafbat v1.1.0, built by build.sh) in headless Chromium against gregor — or against
# the reference Apache Kafka, to tell a gregor bug from a test bug. Seeds loms.order-events and
# a consumer group with lag, starts kafka-ui on the broker, checks its REST API and the
# dashboard, brokers, topics, messages and consumers pages (browser_test.py, Playwright driving
# the system Chromium). Not part of scripts/test-all.sh: build.sh needs kafka-ui's sources
# (GitHub or a local clone) and ~10 minutes.
#
#   compat-tests/kafka-ui/browser-test.sh            against gregor
#   COMPAT_KUI_BROKER=kafka compat-tests/kafka-ui/browser-test.sh   against Apache Kafka
#   COMPAT_KUI_SECURITY=SASL_SSL compat-tests/kafka-ui/browser-test.sh  the broker (either) with
#       SASL_SSL listeners (compat-tests/python/tlsbrokers.py), kafka-ui and the seeding clients
#       on SASL_SSL with SCRAM-SHA-512; ports from COMPAT_KUI_SECURED_PORT (19740) on
#
# Environment (never GREGOR_*): COMPAT_GREGOR_BIN (default $CARGO_TARGET_DIR/debug/gregor,
# built if missing), COMPAT_GREGOR_PORT (19092), COMPAT_KAFKA_PORT / COMPAT_KAFKA_CONTROLLER_PORT
# / COMPAT_KAFKA_STATE (see reference-kafka.sh), COMPAT_KUI_PORT (kafka-ui's HTTP port, 8480),
# COMPAT_CACHE_DIR (~/.cache/gregor). Logs and screenshots: compat-tests/results/kafka-ui/.
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
CACHE="${COMPAT_CACHE_DIR:-$HOME/.cache/gregor}"
export COMPAT_CACHE_DIR="$CACHE"
BROKER="${COMPAT_KUI_BROKER:-gregor}"
GREGOR_PORT_="${COMPAT_GREGOR_PORT:-19092}"
KAFKA_PORT_="${COMPAT_KAFKA_PORT:-24092}"
UI_PORT="${COMPAT_KUI_PORT:-8480}"
RESULTS="$ROOT/compat-tests/results/kafka-ui/$BROKER"
[ "${COMPAT_KUI_SECURITY:-PLAINTEXT}" = SASL_SSL ] && RESULTS="$RESULTS-sasl-ssl"
say() { echo "== $*"; }
die() { echo "kafka-ui browser test: ERROR: $*" >&2; exit 1; }
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# shellcheck source=../../scripts/deps.sh
. "$ROOT/scripts/deps.sh"
apt_install chromium
JAR="$("$HERE/build.sh")"

VENV="$CACHE/kafka-ui/venv"
REQ="$HERE/requirements.txt"
STAMP="$VENV/.requirements.sha256"
if [ "$(cat "$STAMP" 2>/dev/null)" != "$(sha256sum "$REQ" | cut -d' ' -f1)" ]; then
  say "python venv $VENV"
  rm -rf "$VENV"
  python3 -m venv "$VENV" 2>/dev/null || { apt_install python3-venv; python3 -m venv "$VENV"; }
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check -r "$REQ"
  sha256sum "$REQ" | cut -d' ' -f1 >"$STAMP"
fi

rm -rf "$RESULTS" && mkdir -p "$RESULTS"
port_open "$UI_PORT" && die "port $UI_PORT (kafka-ui) is already in use"
GREGOR_PID="" GREGOR_DATA="" KAFKA_STARTED=""
cleanup() {
  set +e
  if [ -n "$GREGOR_PID" ]; then
    kill "$GREGOR_PID" 2>/dev/null
    wait "$GREGOR_PID" 2>/dev/null
  fi
  [ -n "$GREGOR_DATA" ] && rm -rf "$GREGOR_DATA"
  [ -n "$KAFKA_STARTED" ] && "$HERE/../kafka/reference-kafka.sh" stop >/dev/null 2>&1
}
trap cleanup EXIT
trap 'exit 130' INT TERM

SECURITY="${COMPAT_KUI_SECURITY:-PLAINTEXT}"
ui_args=()
if [ "$SECURITY" = SASL_SSL ]; then
  case "$BROKER" in gregor|kafka) ;; *) die "COMPAT_KUI_BROKER must be gregor or kafka, not $BROKER" ;; esac
  if [ "$BROKER" = gregor ]; then
    TARGET="${CARGO_TARGET_DIR:-$CACHE/target}"
    export COMPAT_GREGOR_BIN="${COMPAT_GREGOR_BIN:-$TARGET/debug/gregor}"
    [ -x "$COMPAT_GREGOR_BIN" ] || (cd "$ROOT" && CARGO_TARGET_DIR="$TARGET" cargo build --quiet --bin gregor)
    # tlsbrokers passes no GREGOR_* variables on to gregor.
  else
    "$HERE/../kafka/reference-kafka.sh" fetch
  fi
  ui_args=(--secured "$BROKER" --secured-port "${COMPAT_KUI_SECURED_PORT:-19740}"
           --workdir "$RESULTS/broker")
  say "kafka-ui on a SASL_SSL $BROKER"
elif [ "$SECURITY" != PLAINTEXT ]; then
  die "COMPAT_KUI_SECURITY must be PLAINTEXT or SASL_SSL, not $SECURITY"
fi

case "$SECURITY:$BROKER" in
  SASL_SSL:*) ;;
  *:gregor)
    TARGET="${CARGO_TARGET_DIR:-$CACHE/target}"
    BIN="${COMPAT_GREGOR_BIN:-$TARGET/debug/gregor}"
    [ -x "$BIN" ] || (cd "$ROOT" && CARGO_TARGET_DIR="$TARGET" cargo build --quiet --bin gregor)
    port_open "$GREGOR_PORT_" && die "port $GREGOR_PORT_ is already in use (another gregor?)"
    GREGOR_DATA="$(mktemp -d "${TMPDIR:-/tmp}/gregor-kafka-ui.XXXXXX")"
    unset_args=()
    while IFS= read -r v; do unset_args+=(-u "$v"); done < <(compgen -e | grep '^GREGOR_' || true)
    say "starting gregor on 127.0.0.1:$GREGOR_PORT_, log $RESULTS/gregor.log"
    env "${unset_args[@]}" NO_COLOR=1 RUST_LOG="${RUST_LOG:-info}" "$BIN" \
      --listen "127.0.0.1:$GREGOR_PORT_" --data-dir "$GREGOR_DATA" \
      --group-initial-rebalance-delay-ms 0 >"$RESULTS/gregor.log" 2>&1 </dev/null &
    GREGOR_PID=$!
    for _ in $(seq 300); do port_open "$GREGOR_PORT_" && break; sleep 0.1; done
    port_open "$GREGOR_PORT_" || die "gregor did not start (see $RESULTS/gregor.log)"
    BOOTSTRAP="127.0.0.1:$GREGOR_PORT_"
    ;;
  *:kafka)
    say "starting the reference Apache Kafka on 127.0.0.1:$KAFKA_PORT_"
    KAFKA_STARTED=1
    "$HERE/../kafka/reference-kafka.sh" start "loms.order-events:2" >"$RESULTS/kafka-start.log" 2>&1 \
      || die "reference Kafka did not start (see $RESULTS/kafka-start.log)"
    BOOTSTRAP="127.0.0.1:$KAFKA_PORT_"
    ;;
  *) die "COMPAT_KUI_BROKER must be gregor or kafka, not $BROKER" ;;
esac

[ "$SECURITY" = SASL_SSL ] || ui_args=(--bootstrap "$BOOTSTRAP")
"$VENV/bin/python" "$HERE/browser_test.py" "${ui_args[@]}" --jar "$JAR" \
  --port "$UI_PORT" --chromium "$(command -v chromium)" --log "$RESULTS/kafka-ui.log" \
  --screenshots "$RESULTS"
