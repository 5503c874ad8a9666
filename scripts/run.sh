#!/usr/bin/env bash
# Builds (first time: RocksDB from source, about 10 minutes on 2 cores) and runs the broker.
# Arguments go to gregor: scripts/run.sh --help
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/deps.sh
apt_install libclang-dev   # RocksDB's Rust bindings are generated with libclang
exec cargo run --release --quiet --bin gregor -- "$@"
