#!/usr/bin/env bash
# Checks docker/compose.yaml without a Docker engine (docker/run-compose-test.sh runs the stack
# under one):
#  1. composecheck (Go, compose-go — the library behind `docker compose config`): the file loads
#     (schema, interpolation) and has the homework topology (see composecheck/main.go);
#  2. docker/Dockerfile's source build stage copies a crate cargo resolves (and .dockerignore
#     lets those files through);
#  3. the `kafka` service's command is a valid gregor command line (`--print-config`);
#  4. the `kafka-init` service's command, run against a local gregor (bootstrap rewritten),
#     creates loms.order-events with 2 partitions and succeeds again when it exists;
#  5. the `kafka` service's healthcheck (`gregor health`) passes against that gregor's metrics
#     listener, and every metric the Grafana dashboards query is one its /metrics exports.
# Environment: COMPAT_GREGOR_BIN (default $CARGO_TARGET_DIR/debug/gregor; steps 3-5 are
# skipped with a note if it is missing), HOMEWORK_COMPOSE_PORT (19694),
# HOMEWORK_COMPOSE_METRICS_PORT (HOMEWORK_COMPOSE_PORT + 1), COMPAT_CACHE_DIR.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
CACHE="${COMPAT_CACHE_DIR:-$HOME/.cache/gregor}"
BIN="${COMPAT_GREGOR_BIN:-${CARGO_TARGET_DIR:-$CACHE/target}/debug/gregor}"
PORT="${HOMEWORK_COMPOSE_PORT:-19694}"
MPORT="${HOMEWORK_COMPOSE_METRICS_PORT:-$((PORT + 1))}"
COMPOSE="$HERE/compose.yaml"
say() { echo "== $*"; }
die() { echo "check-compose: ERROR: $*" >&2; exit 1; }

mkdir -p "$CACHE/homework"
CHECK="$CACHE/homework/composecheck"
(cd "$HERE/composecheck" && GOFLAGS="-mod=readonly -buildvcs=false" go build -o "$CHECK" .)
say "compose file: structure and references ($COMPOSE)"
"$CHECK" "$COMPOSE"

say "docker/Dockerfile's source build: what it copies resolves (cargo tree --locked)"
# The build context is what .dockerignore lets through (it starts with `*`: only `!path` lines),
# the build stage has what its COPY lines take: each must be let through, and together they must
# be a crate cargo resolves (a path dependency left out fails here, not in a student's build).
ROOT="$(cd "$HERE/.." && pwd)"
ctx="$(mktemp -d)"
mapfile -t copies < <(awk '/^FROM .* AS build-source/ { on = 1; next } /^FROM / { on = 0 }
  on && $1 == "COPY" { for (i = 2; i < NF; i++) print $i }' "$HERE/Dockerfile")
[ ${#copies[@]} -gt 0 ] || die "no COPY in docker/Dockerfile's build-source stage"
for src in "${copies[@]}"; do
  grep -qxF "!$src" "$ROOT/.dockerignore" || die ".dockerignore does not let $src into the build context"
  cp -r "$ROOT/$src" "$ctx/"
done
# (offline from cargo's cache when it has the crates; else crates.io's index is asked)
tree=(cargo tree --locked --target x86_64-unknown-linux-gnu -e normal,build)
(cd "$ctx" && { "${tree[@]}" --offline >/dev/null 2>&1 || "${tree[@]}" >/dev/null; }) \
  || die "the build stage's files (${copies[*]}) do not make a crate cargo resolves"
rm -rf "$ctx"
echo "ok   COPY ${copies[*]}: let through by .dockerignore, and cargo resolves them"

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
for want in 'INTERNAL://0.0.0.0:29092' 'PLAINTEXT://0.0.0.0:9092' 'INTERNAL://kafka:29092' 'PLAINTEXT://localhost:9092' \
            'metrics_listen = "0.0.0.0:9644"'; do
  grep -q "$want" <<<"$cfg" || die "effective configuration lacks $want:\n$cfg"
done
echo "ok   gregor ${kafka_cmd[*]} --print-config"

say "kafka-init service: its command against a local gregor on 127.0.0.1:$PORT"
(exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && die "port $PORT is in use"
(exec 3<>"/dev/tcp/127.0.0.1/$MPORT") 2>/dev/null && die "port $MPORT is in use"
# No topic pre-created (--topic replaces the default), so the init command really creates it.
# (env, not the g function: $! must be gregor itself, not a subshell, for the kill below.)
env "${unset_args[@]}" "$BIN" --listen "127.0.0.1:$PORT" --storage memory --topic scratch:1 --log warn \
  --metrics-listen "127.0.0.1:$MPORT" \
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

say "kafka service: its healthcheck and the dashboards' metrics against 127.0.0.1:$MPORT"
mapfile -t health_cmd < <("$CHECK" -print-healthcheck kafka "$COMPOSE" | sed "s#^--metrics-address=localhost:9644\$#--metrics-address=127.0.0.1:$MPORT#")
[ "${health_cmd[0]}" = gregor ] || die "the kafka healthcheck does not run gregor: ${health_cmd[*]}"
o="$(g "${health_cmd[@]:1}")" || die "kafka healthcheck failed: ${health_cmd[*]}"
echo "ok   healthcheck ${health_cmd[*]} → $o"
# /metrics over bash's /dev/tcp (no curl needed); its families from the # TYPE lines.
exec 4<>"/dev/tcp/127.0.0.1/$MPORT"
printf 'GET /metrics HTTP/1.1\r\nHost: gregor\r\nConnection: close\r\n\r\n' >&4
scrape="$(cat <&4)"
exec 4<&-
grep -q '^HTTP/1.1 200' <<<"$scrape" || die "GET /metrics failed:\n$(head -5 <<<"$scrape")"
exported="$(awk '$1 == "#" && $2 == "TYPE" { print $3; if ($4 == "histogram") { print $3 "_bucket"; print $3 "_sum"; print $3 "_count" } }' <<<"${scrape//$'\r'/}")"
missing=()
while IFS= read -r m; do
  grep -qxF "$m" <<<"$exported" || missing+=("$m")
done < <("$CHECK" -dashboard-metrics "$COMPOSE")
[ ${#missing[@]} -eq 0 ] || die "the dashboards query metrics gregor does not export: ${missing[*]}"
echo "ok   every metric the dashboards query is exported ($("$CHECK" -dashboard-metrics "$COMPOSE" | wc -l) names)"
echo "compose: 6 passed, 0 failed"
