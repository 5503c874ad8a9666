#!/usr/bin/env bash
# A one-minute side-by-side run that prints ratios only (gregor over Kafka, and gregor with
# --fsync never over Kafka's no-fsync default): run it before and after a change to a hot path.
# One run of few records is noise-prone (differences under ~15% mean nothing): a hint, never a
# pass/fail test; bench/run.sh is the measurement. Same environment variables as bench/run.sh.
set -euo pipefail
export BENCH_RUNS="${BENCH_RUNS:-1}"
export BENCH_BROKERS="${BENCH_BROKERS:-gregor gregor-nofsync kafka}"
export BENCH_WORKLOADS="${BENCH_WORKLOADS:-W1 W4}"
export BENCH_RECORDS="${BENCH_RECORDS:-300000}"
export BENCH_RATIOS_ONLY=1
exec "$(dirname "$0")/run.sh"
