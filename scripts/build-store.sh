#!/usr/bin/env bash
# Builds the OTLP-native stores the tests and `make run` use in place of
# Grafana Tempo and Loki (which cannot be built or installed here):
#   jaeger          Jaeger v2 (trace store; takes OTLP, answers /api/v3/traces/{id})
#   victoria-logs   VictoriaLogs (log store; OTLP at /insert/opentelemetry/v1/logs)
# Each binary is cached under a key derived from its name, version and the Go
# version, like bin/otelcol, so a warm machine (or a fresh clone on one) never
# rebuilds.
#   usage: scripts/build-store.sh jaeger|victoria-logs
#   JAEGER_VERSION         default v1.75.0 (the module proxy refuses v1.76.0 and the v2 tags)
#   VICTORIALOGS_VERSION   default v1.52.2
#   OTELPIPE_CACHE         cache directory (default ~/.cache/otelpipe)
set -euo pipefail
cd "$(dirname "$0")/.."
store=${1:?usage: build-store.sh jaeger|victoria-logs}
JAEGER_VERSION=${JAEGER_VERSION:-v1.75.0}
VICTORIALOGS_VERSION=${VICTORIALOGS_VERSION:-v1.52.2}
CACHE=${OTELPIPE_CACHE:-$HOME/.cache/otelpipe}
case "$store" in
  jaeger) version=$JAEGER_VERSION; minutes="10 to 15" ;;
  victoria-logs) version=$VICTORIALOGS_VERSION; minutes="3 to 5" ;;
  *) echo "build-store: unknown store '$store' (jaeger or victoria-logs)" >&2; exit 2 ;;
esac
OUT=bin/$store
key=$( (echo "$store"; echo "$version"; go version 2>/dev/null) | sha256sum | cut -c1-16)
cached="$CACHE/$store-$key"

if [ -x "$cached" ]; then
  mkdir -p bin
  cp -f "$cached" "$OUT"
  echo "$store: $OUT from cache ($key)"
  exit 0
fi
if ! command -v go >/dev/null; then
  echo "$store: no Go toolchain; cannot build $OUT" >&2
  exit 3
fi
echo "$store: building $OUT $version: the first build takes about $minutes minutes on 2 cores;"
echo "$store: later ones come from $CACHE (key $key)"
SECONDS=0
work=$(mktemp -d)
beat=
cleanup() {
  [ -z "$beat" ] || kill "$beat" 2>/dev/null || true
  # Go writes its module cache read-only; make what a build left under $work removable.
  chmod -R u+w "$work" 2>/dev/null || true
  rm -rf "$work" || true
}
trap cleanup EXIT
# go is silent while it compiles: say every minute that it still is.
( while sleep 60; do echo "$store: still building ($((SECONDS / 60)) min)"; done ) &
beat=$!
case "$store" in
  jaeger)
    # `go install pkg@version` refuses a module whose go.mod has replace lines,
    # so Jaeger is resolved through a throwaway wrapper module.
    (cd "$work" && go mod init otelpipe.local/jaeger-build >/dev/null 2>&1 \
      && go get -tool "github.com/jaegertracing/jaeger/cmd/jaeger@$JAEGER_VERSION" \
      && go build -o "$work/$store" github.com/jaegertracing/jaeger/cmd/jaeger)
    ;;
  victoria-logs)
    GOBIN="$work" go install "github.com/VictoriaMetrics/VictoriaLogs/app/victoria-logs@$VICTORIALOGS_VERSION"
    ;;
esac
kill "$beat" 2>/dev/null || true
beat=
mkdir -p "$CACHE" bin
cp -f "$work/$store" "$cached.tmp" && mv -f "$cached.tmp" "$cached"
cp -f "$cached" "$OUT"
echo "$store: wrote $OUT ($key) in $((SECONDS / 60)) min $((SECONDS % 60)) s"
