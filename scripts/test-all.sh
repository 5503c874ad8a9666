#!/usr/bin/env bash
# Runs every test of gregor, installing what the tests need first: Debian packages
# (libclang-dev for RocksDB's bindings, kcat, Java, Maven, PostgreSQL), then cargo's checks
# and tests, then the real-client compatibility suite (which installs its own pip packages and
# Maven artifacts), then the homework end to end and the compose stack (under Debian's Docker
# engine, started by docker/run-compose-test.sh). Each stage prints its start time.
set -euo pipefail
cd "$(dirname "$0")/.."
# Caches live outside the clone so CI reruns are warm (they must also work cold).
# (No GREGOR_* names here: the broker treats unknown GREGOR_* variables as errors.)
export CACHE_ROOT="${CACHE_ROOT:-$HOME/.cache/gregor}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$CACHE_ROOT/target}"

source scripts/deps.sh
START=$(date +%s)
stage() { echo "== [$(( $(date +%s) - START )) s] $*"; }
# Every Debian package any suite needs, installed once here: the suites below run side by
# side, and two apt-get runs at once would fight over dpkg's lock.
apt_install libclang-dev kcat openjdk-17-jre-headless maven postgresql python3-venv docker.io debootstrap mosquitto mosquitto-clients

stage "cargo fmt / clippy"
cargo fmt --check
cargo clippy --all-targets --quiet -- -D warnings

stage "cargo test"
cargo test --quiet

# libFuzzer runs are soak work, kept out of the default run (building the targets with
# sanitizers takes ~5 minutes after every source change): `cargo test` replays the committed
# corpus. TEST_FUZZ_SECONDS=N runs every target N seconds here too (scripts/fuzz.sh alone).
if [ "${TEST_FUZZ_SECONDS:-0}" != 0 ]; then
  stage "fuzz targets (${TEST_FUZZ_SECONDS} s each, from the committed corpus)"
  FUZZ_SECONDS="$TEST_FUZZ_SECONDS" scripts/fuzz.sh
fi

stage "compatibility suite (real clients, gregor and reference Apache Kafka)"
cargo build --quiet --bin gregor
export COMPAT_GREGOR_BIN="$CARGO_TARGET_DIR/debug/gregor"
# The compat suite runs its gregor and Kafka halves side by side (two streams, as many as the
# two cores take without client timeouts); the homework end to end (loms, 3 notifiers,
# PostgreSQL; gregor, Kafka, both on SASL_SSL) and the compose checks come after it.
compat=0
compat-tests/run.sh || compat=$?
stage "homework end to end"
side_status=0
compat-tests/homework/e2e.sh || side_status=$?
stage "docker/compose.yaml static check"
docker/check-compose.sh || side_status=$?
# The compose stack mostly waits on Docker: the cluster target's core scenarios run beside it
# (the whole suite against the three-broker cluster: COMPAT_CLUSTER=only compat-tests/run.sh).
stage "the compose stack under a Docker engine (docker/run-compose-test.sh), beside the compat suite's core scenarios against a three-broker gregor cluster"
docker/run-compose-test.sh >"$CACHE_ROOT/compose-test.log" 2>&1 &
compose_pid=$!
cluster=0
COMPAT_CLUSTER=only COMPAT_ONLY="${COMPAT_CLUSTER_CI_ONLY:-produce_consume or group or transactions or leader_epochs or list_offsets}" \
  compat-tests/run.sh || cluster=$?
wait "$compose_pid" || side_status=$?
cat "$CACHE_ROOT/compose-test.log"
stage "done: compat suite exit $compat, cluster target exit $cluster, homework/compose exit $side_status"
[ "$compat" -eq 0 ] && [ "$cluster" -eq 0 ] && [ "$side_status" -eq 0 ]
