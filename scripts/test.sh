#!/usr/bin/env bash
# Runs every test: static checks, unit, integration (real local PDS + PLC, real sockets)
# and browser tests (Playwright driving Debian's Chromium). Installs what is missing first.
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$HEARTH_ROOT"
if [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "hearth: installing Debian's chromium for the browser tests" >&2
    apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >&2
  else
    echo "hearth: browser tests need /usr/bin/chromium (sudo apt-get install chromium)" >&2
    exit 1
  fi
fi
# Some tests open many sockets.
ulimit -n 65536 2>/dev/null || ulimit -n 4096 2>/dev/null || true
npm run check
npm run build --silent -w apps/web
results="$HEARTH_ROOT/test-results"
mkdir -p "$results"
status=0
vitest run --reporter=default --reporter=json --outputFile.json="$results/vitest.json" "$@" || status=$?
node scripts/summarise-tests.ts "$results/vitest.json" || true
exit $status
