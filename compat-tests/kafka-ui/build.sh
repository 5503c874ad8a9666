#!/usr/bin/env bash
# Builds kafbat/kafka-ui v1.1.0 (backend jar with the web UI inside) from Maven Central and npm
# only, patched by patch_kafka_ui.py (Apache kafka-clients 3.8.1, no Confluent schema-registry
# serdes, Java 17), and caches it as $CACHE/kafka-ui/kafka-ui-v1.1.0-patched.jar.
# Prints the jar's path. Idempotent: returns the cached jar if it exists.
#
# Sources: kafka-ui's GitHub tag v1.1.0, taken from a local bare clone if KAFKA_UI_GIT points at
# one (default: the /work/.mirror snapshot on the project's dev machine), else downloaded from
# codeload.github.com (needs GitHub access). Needs Maven, JDK 17, Node >= 18 and pnpm 9 (pnpm
# is run through npx if not installed). Takes ~10 minutes on 2 cores.
#
# Environment: COMPAT_CACHE_DIR (default ~/.cache/gregor), KAFKA_UI_GIT, KAFKA_UI_WORK (build
# directory, default /tmp/kafka-ui-src; it is deleted and recreated).
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=../../scripts/deps.sh
. "$HERE/../../scripts/deps.sh"
TAG=v1.1.0
CACHE="${COMPAT_CACHE_DIR:-$HOME/.cache/gregor}/kafka-ui"
JAR="$CACHE/kafka-ui-$TAG-patched.jar"
GIT="${KAFKA_UI_GIT:-/work/.mirror/kafbat+kafka-ui/repo}"
WORK="${KAFKA_UI_WORK:-/tmp/kafka-ui-src}"

if [ -s "$JAR" ]; then echo "$JAR"; exit 0; fi
command -v mvn >/dev/null || apt_install maven >&2
command -v javac >/dev/null || apt_install openjdk-17-jdk-headless >&2
command -v npx >/dev/null || apt_install nodejs npm >&2
PNPM=(pnpm); command -v pnpm >/dev/null || PNPM=(npx --yes pnpm@9.15.0)

rm -rf "$WORK" && mkdir -p "$WORK"
if git -C "$GIT" rev-parse --verify -q "$TAG^{commit}" >/dev/null 2>&1; then
  echo "== sources: $GIT @ $TAG" >&2
  git -C "$GIT" archive "$TAG" | tar -x -C "$WORK"
else
  echo "== sources: codeload.github.com kafbat/kafka-ui $TAG" >&2
  curl -fsSL "https://codeload.github.com/kafbat/kafka-ui/tar.gz/refs/tags/$TAG" \
    | tar -xz -C "$WORK" --strip-components=1
fi
python3 "$HERE/patch_kafka_ui.py" "$WORK" >&2

echo "== frontend (pnpm)" >&2
( cd "$WORK/frontend" && "${PNPM[@]}" install --frozen-lockfile && VITE_TAG="$TAG-patched" "${PNPM[@]}" build ) >&2
# What the upstream `prod` profile does: serve the built UI as static resources of the jar.
mkdir -p "$WORK/api/src/main/resources/static"
cp -r "$WORK/frontend/build/." "$WORK/api/src/main/resources/static/"

echo "== backend (maven)" >&2
# maven.test.skip: the tests need the removed Confluent classes; skip.* keep
# frontend-maven-plugin from downloading Node (the UI is built above).
( cd "$WORK" && mvn -B -q -pl api -am package -Dmaven.test.skip=true -Dcheckstyle.skip -Djacoco.skip=true \
    -Dskip.installnodepnpm -Dskip.pnpm -DskipUIBuild=true ) >&2
mkdir -p "$CACHE"
cp "$(ls "$WORK"/api/target/api-*.jar | grep -v original | head -1)" "$JAR.tmp" && mv "$JAR.tmp" "$JAR"
echo "$JAR"
