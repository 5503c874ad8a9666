# Sourced by test-all.sh. Cargo judges a path dependency (vendor/kafka-protocol, patched in
# Cargo.toml) up to date by its files' modification times, and every fresh clone dates them
# now: each CI run rebuilt it (optimised, about a minute on the two cores) although its
# tree had not changed. vendor_stamp records, after the builds, which vendor tree the target
# dir's artifacts were built from and the state of their fingerprints; vendor_reuse_build,
# when both still hold (same tree, clean, nobody has rebuilt it in that target dir since),
# dates the vendor files back so cargo reuses the build. In any other case it leaves the
# dates alone and cargo decides as usual.
VENDOR_STAMP="$CARGO_TARGET_DIR/gregor-vendor.stamp"

vendor_state() {
  local tree
  tree="$(git rev-parse -q --verify HEAD:vendor 2>/dev/null)" || return 1
  [ -z "$(git status --porcelain -- vendor 2>/dev/null)" ] || return 1
  printf '%s %s\n' "$tree" "$(find "$CARGO_TARGET_DIR"/*/.fingerprint -maxdepth 2 -type f \
    -path '*/kafka-protocol-*' -printf '%p %T@\n' 2>/dev/null | sort | sha256sum | cut -c1-32)"
}

vendor_reuse_build() {
  local state
  state="$(vendor_state)" || return 0
  [ -f "$VENDOR_STAMP" ] && [ "$(cat "$VENDOR_STAMP")" = "$state" ] || return 0
  git ls-files -z -- vendor | xargs -0 touch -d '2001-01-01 00:00:00'
  echo "== vendor/ unchanged since this target dir's build of it: reused"
}

vendor_stamp() {
  vendor_state >"$VENDOR_STAMP.tmp" 2>/dev/null && mv "$VENDOR_STAMP.tmp" "$VENDOR_STAMP" ||
    rm -f "$VENDOR_STAMP" "$VENDOR_STAMP.tmp"
}
