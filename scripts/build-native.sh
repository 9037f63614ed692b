#!/usr/bin/env bash
# Builds the redaction processor's compiled field reader (native/redaction_wire, Rust with pyo3)
# into processors/redaction/_wire.abi3.so, caching the library under a key derived from the
# crate's sources and the Rust toolchain, so a warm machine never rebuilds.
# Without cargo it says so and exits 0: splice.py then uses its pure-Python reader, which
# gives the same output (tests/processors/redaction/test_native.py compares them when built).
#   OTELPIPE_CACHE  cache directory (default ~/.cache/otelpipe)
set -euo pipefail
cd "$(dirname "$0")/.."
CRATE=native/redaction_wire
OUT=processors/redaction/_wire.abi3.so
CACHE=${OTELPIPE_CACHE:-$HOME/.cache/otelpipe}
CARGO=${CARGO:-$(command -v cargo || echo "$HOME/.cargo/bin/cargo")}
if [ ! -x "$CARGO" ] && ! command -v "$CARGO" >/dev/null 2>&1; then
  echo "native: no cargo (https://rustup.rs); the redaction splice uses its pure-Python field reader" >&2
  exit 0
fi
key=$( (cat "$CRATE/Cargo.toml" "$CRATE/Cargo.lock" "$CRATE"/src/*.rs 2>/dev/null; "$CARGO" --version; rustc --version 2>/dev/null) \
  | sha256sum | cut -c1-16)
cached="$CACHE/redaction_wire-$key.so"
if [ ! -f "$cached" ]; then
  echo "native: building $CRATE (pyo3, release)"
  (cd "$CRATE" && "$CARGO" build --release --quiet)
  mkdir -p "$CACHE"
  cp -f "$CRATE/target/release/lib_wire.so" "$cached.tmp" && mv -f "$cached.tmp" "$cached"
fi
# Through a temporary name: a running process keeps the library it loaded.
cp -f "$cached" "$OUT.tmp" && mv -f "$OUT.tmp" "$OUT"
echo "native: $OUT ($key)"
