#!/usr/bin/env bash
# Builds bin/telemetrygen, the OpenTelemetry load generator the interop tests
# (tests/interop) and `make bench` (bench/bench_telemetrygen.py) send traces,
# logs and metrics with. Cached under a key of the version and the Go version,
# like scripts/build-store.sh, so a warm machine never rebuilds.
#   TELEMETRYGEN_VERSION   default v0.161.0 (the module proxy refuses v0.159.0's source)
#   OTELPIPE_CACHE         cache directory (default ~/.cache/otelpipe)
set -euo pipefail
cd "$(dirname "$0")/.."
TELEMETRYGEN_VERSION=${TELEMETRYGEN_VERSION:-v0.161.0}
CACHE=${OTELPIPE_CACHE:-$HOME/.cache/otelpipe}
OUT=bin/telemetrygen
key=$( (echo telemetrygen; echo "$TELEMETRYGEN_VERSION"; go version 2>/dev/null) | sha256sum | cut -c1-16)
cached="$CACHE/telemetrygen-$key"
if [ -x "$cached" ]; then
  mkdir -p bin
  cp -f "$cached" "$OUT"
  echo "telemetrygen: $OUT from cache ($key)"
  exit 0
fi
if ! command -v go >/dev/null; then
  echo "telemetrygen: no Go toolchain; cannot build $OUT" >&2
  exit 3
fi
echo "telemetrygen: building $OUT $TELEMETRYGEN_VERSION (a few minutes on 2 cores; later from $CACHE, key $key)"
SECONDS=0
work=$(mktemp -d)
cleanup() { chmod -R u+w "$work" 2>/dev/null || true; rm -rf "$work" || true; }
trap cleanup EXIT
GOBIN="$work" go install "github.com/open-telemetry/opentelemetry-collector-contrib/cmd/telemetrygen@$TELEMETRYGEN_VERSION"
mkdir -p "$CACHE" bin
cp -f "$work/telemetrygen" "$cached.tmp" && mv -f "$cached.tmp" "$cached"
cp -f "$cached" "$OUT"
echo "telemetrygen: wrote $OUT ($key) in $((SECONDS / 60)) min $((SECONDS % 60)) s"
