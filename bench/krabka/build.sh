#!/usr/bin/env bash
# Builds the Krabka broker (crabka-broker, Apache-2.0, not on crates.io) for the `krabka` bench
# column, from three git repositories at pinned revisions, into ~/.cache/gregor. Prints the path
# of the broker binary, krabka-<rev7>; next to it is krabka-format-<rev7>, the crabka-format tool
# a log dir must be formatted with before the broker's first start. A second run with both
# binaries already there does nothing.
#
#   KRABKA_SRC_BROKER / KRABKA_SRC_PROTOCOL / KRABKA_SRC_CLIENT  git dirs (bare or .git) holding
#       the revisions below; unset, each is cloned from https://github.com/krabka-io/<repo>.
#   KRABKA_CACHE  (~/.cache/gregor/krabka)  exported sources, clones and the cargo target dir
#   BENCH_BIN_DIR (~/.cache/gregor/bench-bin)  where the two binaries are copied
#
# The broker pins its sibling crates (crabka-protocol & co., crabka-client-*) through git entries
# in [patch.crates-io]; this rewrites them into path dependencies on the local exports, and drops
# the git dev-dependency testcontainers-modules (only crates/log/tests/integration.rs uses it;
# crates.io's 0.15.0 needs testcontainers 0.27, which clashes with the workspace's 0.28).
# Cargo.lock gets the same edit (the git `source` lines of the sibling crates go, as path
# packages have none, and so does the testcontainers-modules package), so the build runs
# --locked: every crates.io version is the one upstream's lockfile pins.
set -euo pipefail

BROKER_REV=745b6104a45f162c274305d86ffdb07b879eb179
PROTOCOL_REV=fe164a8d816f6e7b0447bfe44085874aa9f5f3b5
CLIENT_REV=55cfeba1148963e195fde3a959871c582d390a89

CACHE="${KRABKA_CACHE:-$HOME/.cache/gregor/krabka}"
BIN_DIR="${BENCH_BIN_DIR:-$HOME/.cache/gregor/bench-bin}"
BIN="$BIN_DIR/krabka-${BROKER_REV:0:7}"
FORMAT_BIN="$BIN_DIR/krabka-format-${BROKER_REV:0:7}"
SRC="$CACHE/src"

log() { echo "krabka/build.sh: $*" >&2; }

if [ -x "$BIN" ] && [ -x "$FORMAT_BIN" ]; then
  echo "$BIN"
  exit 0
fi

# gitdir <var> <repo> <rev>: the git dir holding <rev>, cloning/fetching into the cache if unset.
gitdir() {
  local dir="${!1:-}" repo="$2" rev="$3"
  if [ -z "$dir" ]; then
    dir="$CACHE/git/$repo.git"
    [ -d "$dir" ] || { log "cloning $repo"; git clone --quiet --bare "https://github.com/krabka-io/$repo" "$dir"; }
    git --git-dir="$dir" cat-file -e "$rev^{commit}" 2>/dev/null ||
      git --git-dir="$dir" fetch --quiet origin "$rev" ||
      git --git-dir="$dir" fetch --quiet origin '+refs/heads/*:refs/heads/*'
  fi
  git --git-dir="$dir" cat-file -e "$rev^{commit}" || { log "$dir has no commit $rev"; exit 1; }
  echo "$dir"
}

# export_rev <git dir> <rev> <dest>
export_rev() {
  rm -rf "$3"
  mkdir -p "$3"
  git --git-dir="$1" archive "$2" | tar -x -C "$3"
}

# path_patch <manifest> <github repo> <rev> <local export>: crabka-foo = { git = ".../<repo>",
# rev = "<rev>" } becomes crabka-foo = { path = "<export>/crates/foo" } (every crate lives in
# crates/<name without crabka->). A pin to another revision than the one exported is an error.
path_patch() {
  local m="$1" url="https://github.com/krabka-io/$2" rev="$3" dest="$4"
  if grep -F "git = \"$url\"" "$m" | grep -vqF "rev = \"$rev\""; then
    log "$m pins $url at another revision than $rev:"; grep -F "$url" "$m" >&2; exit 1
  fi
  sed -E -i "s#^(crabka-([a-z-]+)) = \{ git = \"$url\", rev = \"$rev\" \}#\1 = { path = \"$dest/crates/\2\" }#" "$m"
}

# drop_testcontainers_modules <workspace dir> <member manifest>
drop_testcontainers_modules() {
  sed -i '/^testcontainers-modules = /d' "$1/Cargo.toml" "$1/$2"
}

# lock_rewrite <Cargo.lock>: the lockfile cargo itself writes after the two edits above.
lock_rewrite() {
  awk 'BEGIN { RS = ""; FS = "\n" }
    /\nname = "testcontainers-modules"\n/ { next }
    { out = ""
      for (i = 1; i <= NF; i++) {
        if ($i ~ /^source = "git\+https:\/\/github\.com\/krabka-io\// || $i == " \"testcontainers-modules\",") continue
        out = out $i "\n"
      }
      printf "%s%s", (n++ ? "\n" : ""), out }' "$1" >"$1.new"
  mv "$1.new" "$1"
}

STAMP="$SRC/.revs"
WANT="$BROKER_REV $PROTOCOL_REV $CLIENT_REV"
if [ "$(cat "$STAMP" 2>/dev/null)" != "$WANT" ]; then
  broker_git="$(gitdir KRABKA_SRC_BROKER krabka-broker "$BROKER_REV")"
  protocol_git="$(gitdir KRABKA_SRC_PROTOCOL krabka-protocol "$PROTOCOL_REV")"
  client_git="$(gitdir KRABKA_SRC_CLIENT krabka-client-rs "$CLIENT_REV")"
  rm -f "$STAMP"
  export_rev "$broker_git" "$BROKER_REV" "$SRC/broker"
  export_rev "$protocol_git" "$PROTOCOL_REV" "$SRC/protocol"
  export_rev "$client_git" "$CLIENT_REV" "$SRC/client-rs"

  path_patch "$SRC/broker/Cargo.toml" krabka-protocol "$PROTOCOL_REV" "$SRC/protocol"
  path_patch "$SRC/broker/Cargo.toml" krabka-client-rs "$CLIENT_REV" "$SRC/client-rs"
  # Only the root workspace's [patch] applies; rewritten anyway so no manifest names github.
  path_patch "$SRC/client-rs/Cargo.toml" krabka-protocol "$PROTOCOL_REV" "$SRC/protocol"
  drop_testcontainers_modules "$SRC/broker" crates/log/Cargo.toml
  drop_testcontainers_modules "$SRC/client-rs" crates/client-core/Cargo.toml
  lock_rewrite "$SRC/broker/Cargo.lock"

  if left="$(grep -rn --include=Cargo.toml 'git = "' "$SRC")"; then
    log "git dependencies left after the rewrite:"; echo "$left" >&2; exit 1
  fi
  echo "$WANT" >"$STAMP"
fi

cd "$SRC/broker"
# rust-toolchain.toml pins the compiler (1.97.1); make sure rustup has it.
toolchain="$(sed -n 's/^channel *= *"\(.*\)"/\1/p' rust-toolchain.toml)"
rustup toolchain list | grep -q "^$toolchain" || rustup toolchain install "$toolchain" --profile minimal
export CARGO_TARGET_DIR="$CACHE/target"
log "building crabka-broker and crabka-format $BROKER_REV with $toolchain (release, default features) into $CARGO_TARGET_DIR"
start=$SECONDS
cargo build --locked --release -p crabka-broker --bin crabka-broker -p crabka-format --bin crabka-format >&2
log "built in $((SECONDS - start)) s"

mkdir -p "$BIN_DIR"
for pair in "crabka-format:$FORMAT_BIN" "crabka-broker:$BIN"; do
  cp "$CARGO_TARGET_DIR/release/${pair%%:*}" "${pair#*:}.tmp"
  mv "${pair#*:}.tmp" "${pair#*:}"
done
echo "$BIN"
