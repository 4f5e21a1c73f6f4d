#!/usr/bin/env bash
# The test command from the README: lint, type-check, schema check, then every tap test
# (unit and integration; integration tests start real charon in network namespaces; e2e tests
# run the failover lab in containers, on a Docker engine started here when none runs).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
export PATH="$PWD/.tools/node_modules/.bin:$PATH"
# Every node the tests start (tap's workers, each CLI, agent and controller run from sources)
# reuses the modules the ones before compiled and type-stripped: Node's module compile cache,
# keyed by content, so an edited file is compiled again.
export NODE_COMPILE_CACHE="${NODE_COMPILE_CACHE:-${TMPDIR:-/tmp}/swanpair-node-compile-cache}"

npx biome ci .
shellcheck -x scripts/*.sh .ci/run test/e2e/*.sh images/*.sh images/*/*.sh images/package/bin/* images/package/libexec/* images/package/debian/*
npx tsc --noEmit -p .
node scripts/gen-schema.ts --check

log=$(mktemp)
started=0
if ! docker info >/dev/null 2>&1; then
  bash scripts/dockerd.sh start
  started=1
fi
# shellcheck disable=SC2317 # called by the trap
cleanup() {
  rm -f "$log"
  if [ "$started" -eq 1 ]; then bash scripts/dockerd.sh stop >/dev/null 2>&1 || true; fi
}
trap cleanup EXIT
set +e
npx tap "$@" 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
set -e
# One plain closing line, for readers that do not parse TAP.
summary=$(grep -E '^# \{ total: [0-9]+' "$log" | tail -1 || true)
pass=$(sed -nE 's/.*pass: ([0-9]+).*/\1/p' <<<"$summary")
fail=$(sed -nE 's/.*fail: ([0-9]+).*/\1/p' <<<"$summary")
skip=$(sed -nE 's/.*skip: ([0-9]+).*/\1/p' <<<"$summary")
# CI keeps only the tail of the output, so name what failed just above the closing line.
grep -E '^\s*not ok ' "$log" | sed -E 's/ # time=.*//' | head -40 || true
echo "tests: ${pass:-0} passed, ${fail:-0} failed, ${skip:-0} skipped"
exit "$rc"
