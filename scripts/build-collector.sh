#!/usr/bin/env bash
# Builds bin/otelcol from collector/builder-config.yaml with the OpenTelemetry
# Collector Builder, caching the binary under a key derived from the manifest
# so that a warm machine (or a fresh clone on one) never rebuilds.
#   MANIFEST   manifest to build (default collector/builder-config.yaml)
#   OUT        binary to write (default bin/otelcol)
#   OTELPIPE_CACHE  cache directory (default ~/.cache/otelpipe)
set -euo pipefail
cd "$(dirname "$0")/.."
MANIFEST=${MANIFEST:-collector/builder-config.yaml}
OUT=${OUT:-bin/otelcol}
OCB_VERSION=${OCB_VERSION:-v0.159.0}
CACHE=${OTELPIPE_CACHE:-$HOME/.cache/otelpipe}
key=$( (cat "$MANIFEST"; echo "$OCB_VERSION"; go version 2>/dev/null) | sha256sum | cut -c1-16)
cached="$CACHE/$(basename "$OUT")-$key"

if [ -x "$cached" ]; then
  mkdir -p "$(dirname "$OUT")"
  # Through a temporary name: a running otelcol keeps its binary, a new one never sees half a file.
  cp -f "$cached" "$OUT.tmp" && mv -f "$OUT.tmp" "$OUT"
  echo "collector: $OUT from cache ($key)"
  exit 0
fi
if ! command -v go >/dev/null; then
  echo "collector: no Go toolchain; cannot build $OUT (make run falls back to standalone mode)" >&2
  exit 3
fi
GOBIN=$(go env GOPATH)/bin
have=$("$GOBIN/builder" version 2>&1 || true)  # on stderr; not piped into grep -q, whose SIGPIPE pipefail would see
if [[ "$have" != *"${OCB_VERSION#v}"* ]]; then
  echo "collector: installing ocb $OCB_VERSION"
  go install "go.opentelemetry.io/collector/cmd/builder@$OCB_VERSION"
fi
echo "collector: building $OUT from $MANIFEST: the first build takes about 10 minutes on 2 cores;"
echo "collector: later ones come from $CACHE (key $key)"
SECONDS=0
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
sed "s#output_path: .*#output_path: $work/dist#" "$MANIFEST" > "$work/manifest.yaml"
# ocb is silent while it compiles: say every minute that it still is.
( while sleep 60; do echo "collector: still building ($((SECONDS / 60)) min)"; done ) &
beat=$!
trap 'kill $beat 2>/dev/null || true; rm -rf "$work"' EXIT
# The build log goes to a file: a refused module otherwise ends the output on a wall of errors.
log="build/$(basename "$OUT")-build.log"
mkdir -p build
if ! "$GOBIN/builder" --config="$work/manifest.yaml" > "$log" 2>&1; then
  kill $beat 2>/dev/null || true
  if grep -qE "403 Forbidden|not available|reading .*: 40[34]" "$log"; then
    refused=$(grep -oE "github\.com/DataDog/[^ :@]+|[a-z0-9.-]+\.[a-z]+/[^ :@]+@v[^ :]+: reading" "$log" | sort -u | sed -n 1p || true)
    echo "collector: the Go module proxy refused a module this build needs (${refused:-see the log});" \
      "make GOPROXY reach it, or use the otel/opentelemetry-collector-contrib image, which has every" \
      "contrib component (docker compose --profile datadog). Full log: $log" >&2
  else
    echo "collector: build failed; the end of $log:" >&2
    tail -n 20 "$log" >&2
  fi
  exit 1
fi
kill $beat 2>/dev/null || true
name=$(awk '/^  name:/{print $2; exit}' "$MANIFEST")
mkdir -p "$CACHE" "$(dirname "$OUT")"
cp -f "$work/dist/$name" "$cached.tmp" && mv -f "$cached.tmp" "$cached"
cp -f "$cached" "$OUT.tmp" && mv -f "$OUT.tmp" "$OUT"
echo "collector: wrote $OUT ($key) in $((SECONDS / 60)) min $((SECONDS % 60)) s"
