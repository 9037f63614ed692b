#!/usr/bin/env bash
# Builds bin/kustomize, which renders k8s/ in the deployment tests
# (tests/deploy). kubectl's built-in kustomize renders the same overlays
# (`kubectl kustomize k8s/overlays/staging`); the standalone binary pins the
# version the tests use on every machine. Cached under a key of the version and
# the Go version, like scripts/build-store.sh, so a warm machine never rebuilds.
#   KUSTOMIZE_VERSION   default v5.8.2 (v5.8.3 needs Go 1.27)
#   OTELPIPE_CACHE      cache directory (default ~/.cache/otelpipe)
set -euo pipefail
cd "$(dirname "$0")/.."
KUSTOMIZE_VERSION=${KUSTOMIZE_VERSION:-v5.8.2}
CACHE=${OTELPIPE_CACHE:-$HOME/.cache/otelpipe}
OUT=bin/kustomize
key=$( (echo kustomize; echo "$KUSTOMIZE_VERSION"; go version 2>/dev/null) | sha256sum | cut -c1-16)
cached="$CACHE/kustomize-$key"
if [ -x "$cached" ]; then
  mkdir -p bin
  cp -f "$cached" "$OUT"
  echo "kustomize: $OUT from cache ($key)"
  exit 0
fi
if ! command -v go >/dev/null; then
  echo "kustomize: no Go toolchain; cannot build $OUT (install Go, or use kubectl's built-in kustomize)" >&2
  exit 3
fi
echo "kustomize: building $OUT $KUSTOMIZE_VERSION (about a minute on 2 cores; later from $CACHE, key $key)"
work=$(mktemp -d)
cleanup() { chmod -R u+w "$work" 2>/dev/null || true; rm -rf "$work" || true; }
trap cleanup EXIT
GOBIN="$work" go install "sigs.k8s.io/kustomize/kustomize/v5@$KUSTOMIZE_VERSION"
mkdir -p "$CACHE" bin
cp -f "$work/kustomize" "$cached.tmp" && mv -f "$cached.tmp" "$cached"
cp -f "$cached" "$OUT"
echo "kustomize: $OUT built and cached ($key)"
