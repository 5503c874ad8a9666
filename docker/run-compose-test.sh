#!/usr/bin/env bash
# The homework's compose stack under a real Docker engine: images built from docker/Dockerfile
# and compat-tests/homework/Dockerfile, `docker compose up`, then the homework's assertions
# through the containers (docker/test/compose_test.py) — on docker/compose.yaml, then on
# docker/test/dropin.yaml (a Kafka-style homework file with gregor swapped in as the README's
# drop-in recipe says).
#
# No image registry needs to be reachable:
#  - the engine: an already running one, else Debian's docker.io (installed if missing) started
#    here as root (and stopped at the end); where it cannot start: "SKIPPED: no Docker engine";
#  - compose: the `docker compose` plugin if present, else Docker's compose v2 built from its Go
#    module (github.com/docker/compose/v2, through the Go module proxy; cached);
#  - the base image: Debian bookworm made by debootstrap (--variant=minbase) from Debian's mirror
#    and `docker import`ed (rootfs tarball cached); it is every Dockerfile's RUNTIME_IMAGE;
#  - PostgreSQL and Prometheus: docker/test/{postgres,prometheus}, Debian's packages on that
#    base. Grafana and kafka-ui are not started (no Debian package; no registry).
#  - gregor, loms and notifier: BUILD_FROM=prebuilt — the Dockerfiles' runtime stages with the
#    binaries built on this (bookworm) host by cargo and go (the test command builds them
#    anyway). COMPOSE_TEST_BUILD_FROM=source runs the Dockerfiles' build stages instead, on
#    local toolchain images (the host's Rust toolchain and Go copied onto the base): gregor's
#    cold release build took 44 minutes here (2 cores shared with another cargo build; ~10+
#    alone), loms and notifier 2, with ~4 GB of engine storage (image layers, BuildKit's
#    cache mounts), so the test command does not do it. Same checks, all passing, either way.
#
#   docker/run-compose-test.sh                     both compose files
#   COMPOSE_TEST_FILES=main docker/run-compose-test.sh   docker/compose.yaml only (dropin: the other)
#
# Environment (never GREGOR_*): COMPAT_GREGOR_BIN (default $CARGO_TARGET_DIR/debug/gregor,
# built if missing), COMPAT_CACHE_DIR (~/.cache/gregor; docker/ below it: rootfs tarball,
# compose binary, dockerd log), DEBIAN_MIRROR (http://deb.debian.org/debian),
# COMPOSE_TEST_BUILD_FROM (prebuilt | source), COMPOSE_TEST_FILES (main,dropin).
# The stack publishes the homework's host ports (9092, 9644, 8081, 5432, 9090): they must be free.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
CACHE="${COMPAT_CACHE_DIR:-$HOME/.cache/gregor}"
DCACHE="$CACHE/docker"
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
BUILD_FROM="${COMPOSE_TEST_BUILD_FROM:-prebuilt}"
FILES="${COMPOSE_TEST_FILES:-main,dropin}"
COMPOSE_VERSION=v2.29.7
BASE=local/debian:bookworm-minbase
say() { echo "== [compose test $(( $(date +%s) - t0 )) s] $*"; }
die() { echo "compose test: ERROR: $*" >&2; exit 1; }
t0=$(date +%s)
mkdir -p "$DCACHE"
source "$ROOT/scripts/deps.sh"

# ---- the engine
DOCKERD_PID=""
cleanup() {
  if [ -n "$DOCKERD_PID" ]; then
    kill "$DOCKERD_PID" 2>/dev/null || true
    for _ in $(seq 60); do kill -0 "$DOCKERD_PID" 2>/dev/null || break; sleep 0.5; done
  fi
}
trap cleanup EXIT
skip() { echo "SKIPPED: no Docker engine ($*)"; exit 0; }
if ! docker info >/dev/null 2>&1; then
  [ "$(id -u)" -eq 0 ] || skip "none running, and starting Debian's dockerd needs root"
  command -v dockerd >/dev/null || apt_install docker.io || skip "apt-get install docker.io failed"
  command -v docker >/dev/null || skip "no docker client"
  say "starting dockerd (log: $DCACHE/dockerd.log)"
  dockerd >"$DCACHE/dockerd.log" 2>&1 </dev/null &
  DOCKERD_PID=$!
  for _ in $(seq 60); do docker info >/dev/null 2>&1 && break; kill -0 "$DOCKERD_PID" 2>/dev/null || break; sleep 0.5; done
  if ! docker info >/dev/null 2>&1; then
    tail -5 "$DCACHE/dockerd.log" >&2 || true
    DOCKERD_PID=""
    skip "dockerd did not start, see $DCACHE/dockerd.log"
  fi
  # A container must run, not only the daemon answer (checked on the base image below).
fi

# ---- compose
if docker compose version >/dev/null 2>&1; then
  COMPOSE=(docker compose)
else
  bin="$DCACHE/bin/docker-compose-$COMPOSE_VERSION"
  if [ ! -x "$bin" ]; then
    say "building Docker compose $COMPOSE_VERSION from its Go module (once)"
    GOBIN="$DCACHE/bin/tmp" GOFLAGS=-buildvcs=false go install \
      -ldflags "-s -w -X github.com/docker/compose/v2/internal.Version=$COMPOSE_VERSION" \
      "github.com/docker/compose/v2/cmd@$COMPOSE_VERSION"
    mv "$DCACHE/bin/tmp/cmd" "$bin" && rmdir "$DCACHE/bin/tmp"
  fi
  COMPOSE=("$bin")  # the v2 binary run on its own takes docker-compose's command line
fi
say "engine $(docker version -f '{{.Server.Version}}'), $("${COMPOSE[@]}" version --short)"

# ---- the base image
if ! docker image inspect "$BASE" >/dev/null 2>&1; then
  tarball="$DCACHE/debian-bookworm-minbase.tar"
  if [ ! -s "$tarball" ]; then
    command -v debootstrap >/dev/null || apt_install debootstrap
    say "debootstrap --variant=minbase bookworm from $MIRROR (once; cached in $tarball)"
    dir="$(mktemp -d "$DCACHE/rootfs.XXXXXX")"
    debootstrap --variant=minbase bookworm "$dir" "$MIRROR" >"$DCACHE/debootstrap.log" 2>&1 \
      || { tail -5 "$DCACHE/debootstrap.log" >&2; rm -rf "$dir"; die "debootstrap failed"; }
    rm -rf "$dir"/var/cache/apt/archives/*.deb "$dir"/var/lib/apt/lists/*
    tar -C "$dir" -cf "$tarball.tmp" . && mv "$tarball.tmp" "$tarball"
    rm -rf "$dir"
  fi
  say "docker import $tarball as $BASE"
  docker import "$tarball" "$BASE" >/dev/null
fi
docker run --rm "$BASE" true || skip "the engine runs no container (docker run $BASE true failed)"

# ---- the binaries and images
export RUNTIME_IMAGE="$BASE" BUILD_FROM
export POSTGRES_IMAGE=local/homework-postgres:bookworm PROMETHEUS_IMAGE=local/homework-prometheus:bookworm
for svc in postgres prometheus; do
  img=POSTGRES_IMAGE; [ $svc = prometheus ] && img=PROMETHEUS_IMAGE
  say "image ${!img} (docker/test/$svc)"
  DOCKER_BUILDKIT=0 docker build -q --build-arg "RUNTIME_IMAGE=$BASE" -t "${!img}" "$HERE/test/$svc" >/dev/null
done
if [ "$BUILD_FROM" = prebuilt ]; then
  TARGET="${CARGO_TARGET_DIR:-$CACHE/target}"
  BIN="${COMPAT_GREGOR_BIN:-$TARGET/debug/gregor}"
  if [ ! -x "$BIN" ]; then
    say "building gregor (cargo build --bin gregor)"
    (cd "$ROOT" && CARGO_TARGET_DIR="$TARGET" cargo build --quiet --bin gregor)
  fi
  # Without its debug info (124 MB → 27 MB for the debug build); the image runs this binary.
  objcopy --strip-debug "$BIN" "$HERE/prebuilt/gregor"
  (cd "$ROOT/compat-tests/homework" && CGO_ENABLED=0 GOFLAGS="-mod=readonly -buildvcs=false" \
    go build -trimpath -ldflags="-s -w" -o prebuilt/ ./loms ./notifier)
else
  # Toolchain images on the base: the host's Rust toolchain (rustup's active one, without its
  # docs) and Go, hard-linked into the build context, with the host's extra CA certificates
  # (/usr/local/share/ca-certificates: a TLS-inspecting proxy's) for crates.io and the Go proxy.
  tc="$(rustc --print sysroot)"
  say "local build images (Rust from $tc, Go from $(go env GOROOT))"
  ctx="$(mktemp -d "$DCACHE/ctx.XXXXXX")"
  trap 'rm -rf "$ctx"; cleanup' EXIT
  toolchain_image() {  # tag, then the Dockerfile's lines after the CA certificates
    local tag=$1; shift
    mkdir -p "$ctx/ca"
    cp /usr/local/share/ca-certificates/*.crt "$ctx/ca/" 2>/dev/null || true
    { echo "FROM $BASE"
      echo "RUN apt-get update && apt-get install -y --no-install-recommends build-essential ca-certificates && rm -rf /var/lib/apt/lists/*"
      echo "COPY ca/ /usr/local/share/ca-certificates/"
      echo "RUN update-ca-certificates"
      printf '%s\n' "$@"; } >"$ctx/Dockerfile"
    DOCKER_BUILDKIT=0 docker build -q -t "$tag" "$ctx" >/dev/null
    rm -rf "${ctx:?}"/*
  }
  mkdir "$ctx/rust" && cp -al "$tc/bin" "$tc/lib" "$ctx/rust/"
  toolchain_image local/rust:bookworm "COPY rust /usr/local/rust" \
    "ENV CARGO_HOME=/usr/local/cargo PATH=/usr/local/rust/bin:/usr/local/cargo/bin:\$PATH"
  cp -al "$(go env GOROOT)" "$ctx/go"
  toolchain_image local/golang:bookworm "COPY go /usr/local/go" "ENV PATH=/usr/local/go/bin:\$PATH GOTOOLCHAIN=local"
  rm -rf "$ctx"
fi

# Built once through docker/compose.yaml (gregor:local, homework-loms:local,
# homework-notifier:local; the drop-in file uses them by name); each file's test then runs
# `up --build` (main: the build cache answers) or `up`.
main=("${COMPOSE[@]}" -p gregor-compose-test -f "$HERE/compose.yaml")
if [ "$BUILD_FROM" = source ]; then
  t=$(date +%s)
  BUILD_IMAGE=local/rust:bookworm "${main[@]}" build kafka
  say "gregor's build stage took $(( $(date +%s) - t )) s"
  t=$(date +%s)
  BUILD_IMAGE=local/golang:bookworm "${main[@]}" build loms notifier
  say "loms' and notifier's build stages took $(( $(date +%s) - t )) s"
else
  "${main[@]}" build --quiet kafka loms notifier
fi

for port in 9092 9644 8081 5432 9090; do
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && die "port $port is in use (the stack publishes the homework's host ports)"
done
status=0
IFS=, read -ra files <<<"$FILES"
for f in "${files[@]}"; do
  case "$f" in
    main) file="$HERE/compose.yaml"; build=yes; readme=() ;;
    dropin) file="$HERE/test/dropin.yaml"; build=no; readme=(--readme "$ROOT/README.md") ;;
    *) die "COMPOSE_TEST_FILES: unknown $f (main, dropin)" ;;
  esac
  [ "$BUILD_FROM" = source ] && build=no  # (the build args of the source build are per service)
  say "$file"
  PYTHONDONTWRITEBYTECODE=1 python3 "$HERE/test/compose_test.py" --file "$file" --project gregor-compose-test \
    --build "$build" "${readme[@]}" "${COMPOSE[@]}" || status=1
done
# Superseded images (each new binary makes new layers) and unused build cache, not the images.
docker image prune -f >/dev/null
docker builder prune -f >/dev/null
say "exit $status"
exit $status
