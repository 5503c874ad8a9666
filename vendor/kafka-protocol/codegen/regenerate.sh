#!/bin/sh
# Regenerates ../src/messages and ../src/messages.rs with upstream's generator
# (protocol_codegen) from the message schemas inside a kafka-clients jar. See ../GREGOR.md.
# usage: codegen/regenerate.sh <kafka-protocol-rs git repository> <kafka-clients-X.Y.Z.jar>
set -eu
# Upstream's main at 0.17.0; its generator reproduces 0.18.0's messages byte for byte.
UPSTREAM_COMMIT=66f7de6f3bae527addd7bd351124185ba5d31d8c
here=$(cd "$(dirname "$0")/.." && pwd)
upstream=$1
jar=$(realpath "$2")
work=$(mktemp -d)
git -C "$upstream" archive --prefix=kp/ "$UPSTREAM_COMMIT" | tar -x -C "$work"
patch -d "$work/kp" -p1 < "$here/codegen/local-schemas.patch"
unzip -q "$jar" 'common/message/*.json' -d "$work/json"
cd "$work/kp"
# Stable Rust (checked with 1.95: its rustfmt lays the files out as the release has them).
export RUSTUP_TOOLCHAIN=stable CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$work/target}"
cargo build -j2 -p protocol_codegen
"$CARGO_TARGET_DIR/debug/protocol_codegen" "$work/json/common/message"
rm -rf "$here/src/messages"
cp -a src/messages "$here/src/messages"
cp src/messages.rs "$here/src/messages.rs"
rm -rf "$work"
