#!/bin/sh
# The Next.js example, as `make test` runs it: install the pinned packages, build the app, and
# drive it against a real redisgate and redis-server (test.mjs). Needs Go, Node 20.9+, npm and
# redis-server (make deps installs it).
set -eu
cd "$(dirname "$0")"
export NEXT_TELEMETRY_DISABLED=1
npm ci --no-audit --no-fund --loglevel=error
npx --no-install next build
node --test --test-timeout=180000 test.mjs
