#!/usr/bin/env bash
# Runs every test of gregor, installing what the tests need first: Debian packages
# (libclang-dev for RocksDB's bindings, kcat), then cargo's checks and tests, then the
# real-client compatibility suite (which installs its own pip packages and Maven artifacts).
set -euo pipefail
cd "$(dirname "$0")/.."
# Caches live outside the clone so CI reruns are warm (they must also work cold).
# (No GREGOR_* names here: the broker treats unknown GREGOR_* variables as errors.)
export CACHE_ROOT="${CACHE_ROOT:-$HOME/.cache/gregor}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$CACHE_ROOT/target}"

source scripts/deps.sh
apt_install libclang-dev kcat

echo "== cargo fmt / clippy"
cargo fmt --check
cargo clippy --all-targets --quiet -- -D warnings

echo "== cargo test"
cargo test --quiet

echo "== fuzz targets (bounded: FUZZ_SECONDS each, from the committed corpus)"
scripts/fuzz.sh

echo "== compatibility suite (real clients, gregor and reference Apache Kafka)"
cargo build --quiet --bin gregor
COMPAT_GREGOR_BIN="$CARGO_TARGET_DIR/debug/gregor" compat-tests/run.sh

echo "== homework end to end (loms, 3 notifiers, PostgreSQL; gregor and reference Kafka)"
COMPAT_GREGOR_BIN="$CARGO_TARGET_DIR/debug/gregor" compat-tests/homework/e2e.sh

echo "== docker/compose.yaml static check (no Docker engine here)"
COMPAT_GREGOR_BIN="$CARGO_TARGET_DIR/debug/gregor" docker/check-compose.sh
