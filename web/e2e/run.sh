#!/usr/bin/env bash
# run.sh: real-browser tests of the dashboard and field portal against the real aiff binary.
# Installs what it needs (Debian's chromium, the npm lockfile), builds ./cmd/aiff once, runs
# `node --test`, and exits non-zero if any test fails. Screenshots land in web/e2e/screenshots.
set -euo pipefail
cd "$(dirname "$0")"
E2E="$PWD"
REPO="$(cd ../.. && pwd)"

if [ ! -x "${CHROMIUM:-/usr/bin/chromium}" ]; then
  echo "run.sh: installing chromium" >&2
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
fi
if ! command -v node >/dev/null; then
  echo "run.sh: node is required (Node 20+)" >&2
  exit 1
fi
if [ ! -d node_modules/playwright-core ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi

TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
if [ -z "${AIFF_BIN:-}" ] && [ -z "${AIFF_E2E_BASE_URL:-}" ]; then
  (cd "$REPO" && go build -o "$TMP/aiff" ./cmd/aiff)
  export AIFF_BIN="$TMP/aiff"
fi
mkdir -p screenshots
cd "$E2E"
exec node --test --test-concurrency=1 --test-reporter=spec tests/
