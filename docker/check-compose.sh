#!/usr/bin/env bash
# Checks docker/compose.yaml without a Docker engine (this machine has none, and the docker
# client here has no compose plugin):
#  1. composecheck (Go, compose-go — the library behind `docker compose config`): the file loads
#     (schema, interpolation) and has the homework topology (see composecheck/main.go);
#  2. the `kafka` service's command is a valid gregor command line (`--print-config`);
#  3. the `kafka-init` service's command, run against a local gregor (bootstrap rewritten),
#     creates loms.order-events with 2 partitions and succeeds again when it exists.
# Environment: COMPAT_GREGOR_BIN (default $CARGO_TARGET_DIR/debug/gregor; steps 2-3 are
# skipped with a note if it is missing), HOMEWORK_COMPOSE_PORT (19694), COMPAT_CACHE_DIR.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
CACHE="${COMPAT_CACHE_DIR:-$HOME/.cache/gregor}"
BIN="${COMPAT_GREGOR_BIN:-${CARGO_TARGET_DIR:-$CACHE/target}/debug/gregor}"
PORT="${HOMEWORK_COMPOSE_PORT:-19694}"
COMPOSE="$HERE/compose.yaml"
say() { echo "== $*"; }
die() { echo "check-compose: ERROR: $*" >&2; exit 1; }

mkdir -p "$CACHE/homework"
CHECK="$CACHE/homework/composecheck"
(cd "$HERE/composecheck" && GOFLAGS="-mod=readonly -buildvcs=false" go build -o "$CHECK" .)
say "compose file: structure and references ($COMPOSE)"
"$CHECK" "$COMPOSE"

if [ ! -x "$BIN" ]; then
  echo "note: $BIN missing: the gregor command lines of the compose file were not run"
  exit 0
fi
# gregor rejects unknown GREGOR_* variables: none of the caller's reach it.
unset_args=()
while IFS= read -r v; do unset_args+=(-u "$v"); done < <(compgen -e | grep '^GREGOR_' || true)
g() { env "${unset_args[@]}" "$BIN" "$@"; }

say "kafka service: its command is a valid gregor command line"
mapfile -t kafka_cmd < <("$CHECK" -print-command kafka "$COMPOSE")
cfg="$(g "${kafka_cmd[@]}" --print-config)" || die "gregor rejects the kafka service's command: ${kafka_cmd[*]}"
for want in 'INTERNAL://0.0.0.0:29092' 'PLAINTEXT://0.0.0.0:9092' 'INTERNAL://kafka:29092' 'PLAINTEXT://localhost:9092'; do
  grep -q "$want" <<<"$cfg" || die "effective configuration lacks $want:\n$cfg"
done
echo "ok   gregor ${kafka_cmd[*]} --print-config"

say "kafka-init service: its command against a local gregor on 127.0.0.1:$PORT"
(exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && die "port $PORT is in use"
# No topic pre-created (--topic replaces the default), so the init command really creates it.
# (env, not the g function: $! must be gregor itself, not a subshell, for the kill below.)
env "${unset_args[@]}" "$BIN" --listen "127.0.0.1:$PORT" --storage memory --topic scratch:1 --log warn \
  >/dev/null 2>&1 </dev/null &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null || true' EXIT
for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break; sleep 0.05; done
mapfile -t init_cmd < <("$CHECK" -print-command kafka-init "$COMPOSE" | sed "s#^--bootstrap-server=kafka:29092\$#--bootstrap-server=127.0.0.1:$PORT#")
for attempt in 1 2; do
  o="$(g "${init_cmd[@]}")" || die "kafka-init command failed (attempt $attempt): ${init_cmd[*]}"
  echo "ok   gregor ${init_cmd[*]} → $o"
done
d="$(g topics describe --bootstrap-server "127.0.0.1:$PORT" --topic loms.order-events)"
grep -q 'PartitionCount: 2	ReplicationFactor: 1' <<<"$d" || die "loms.order-events not as wanted:\n$d"
echo "ok   loms.order-events: 2 partitions, replication factor 1"
echo "compose: 3 passed, 0 failed"
