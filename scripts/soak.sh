#!/usr/bin/env bash
# Soak runs: the kill -9 loops of the compat suite, many more times than the test command
# (scripts/test-all.sh) runs them. Same scenarios, same assertions; only the cycle counts differ.
#   - the crash loop (test_crash_loop.py): gregor killed and restarted SOAK_CRASH_CYCLES (50)
#     times (the test command: 8), the reference Kafka SOAK_CRASH_CYCLES_KAFKA (3, as there)
#     under an idempotent producer and a committing group: nothing acknowledged lost,
#     duplicated or reordered;
#   - cluster mode's kill loop (test_cluster_pg.py): brokers killed and restarted
#     SOAK_PG_CRASH_CYCLES (12) times (the test command: 4), then a database failover.
# Separate from the test command, as scripts/fuzz.sh is: tens of minutes on two cores.
#   scripts/soak.sh                 SOAK_CRASH_CYCLES=200 scripts/soak.sh
# Extra arguments go to compat-tests/run.sh's pytest (e.g. -x).
set -euo pipefail
cd "$(dirname "$0")/.."
status=0
echo "== soak: crash loop, gregor ${SOAK_CRASH_CYCLES:-50} cycles, Kafka ${SOAK_CRASH_CYCLES_KAFKA:-3}"
COMPAT_CRASH_CYCLES="${SOAK_CRASH_CYCLES:-50}" COMPAT_CRASH_CYCLES_KAFKA="${SOAK_CRASH_CYCLES_KAFKA:-3}" \
  COMPAT_ONLY=crash_loop compat-tests/run.sh "$@" || status=$?
echo "== soak: cluster mode kill loop, ${SOAK_PG_CRASH_CYCLES:-12} cycles"
COMPAT_PG_CRASH_CYCLES="${SOAK_PG_CRASH_CYCLES:-12}" COMPAT_SKIP_KAFKA=1 \
  COMPAT_ONLY=test_cluster_pg compat-tests/run.sh "$@" || status=$?
echo "== soak: exit $status"
exit "$status"
