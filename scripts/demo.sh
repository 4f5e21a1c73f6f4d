#!/usr/bin/env bash
# The main job: the failover lab (swanpair-lab.yml, docs/lab.md). Two VPCs in containers, each
# with a pair of appliances running swanpair-agent and a workload host; a controller moves the
# routes in EC2 (moto). Traffic flows both ways while the appliance VPC a's routes point at is
# killed; the demo prints the timeline and how long traffic stopped, and plots it as SVG.
#   ./scripts/demo.sh              run, report, tear down (plot: ./swanpair-demo.svg)
#   ./scripts/demo.sh --keep       leave the lab running and print how to use it
#   ./scripts/demo.sh --down       remove a lab left by --keep
#   ./scripts/demo.sh --json       the same numbers as JSON
# Installs what it needs first (scripts/bootstrap.sh --runtime: strongSwan, Docker, mmdebstrap,
# moto, Node 24) and starts a Docker engine when none runs (scripts/dockerd.sh); nothing comes
# from a container registry.
set -euo pipefail
cd "$(dirname "$0")/.."
KEEP=0
DOWN=0
args=()
for a in "$@"; do
  case "$a" in
    --keep) KEEP=1; args+=(--keep) ;;
    --down) DOWN=1 ;;
    --json) args+=(--json) ;;
    -h | --help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "usage: $0 [--keep | --down] [--json]" >&2; exit 2 ;;
  esac
done

say() { echo "demo: $*" >&2; }

bash scripts/bootstrap.sh --runtime >&2
export PATH="$PWD/.tools/node_modules/.bin:$PATH"
swanpair() { node "$PWD/control-plane/bin/swanpair.ts" "$@"; }

started=0
if ! docker info >/dev/null 2>&1; then
  bash scripts/dockerd.sh start >&2
  started=1
fi
# A Docker engine this demo started stops with it, unless the lab stays.
stop_engine() { if [ "$started" -eq 1 ]; then bash scripts/dockerd.sh stop >&2 || true; fi; }

if [ "$DOWN" -eq 1 ]; then
  swanpair lab destroy --lab demo --cleanup
  stop_engine
  exit 0
fi
[ "$KEEP" -eq 1 ] || trap stop_engine EXIT

# A lab left by an earlier --keep would be in the way.
swanpair lab destroy --lab demo >/dev/null 2>&1 || true
say "building the images if needed, then deploying the lab (progress on a terminal)"
swanpair lab demo --svg swanpair-demo.svg "${args[@]}"

if [ "$KEEP" -eq 1 ]; then
  cat >&2 <<EOT

demo: the lab keeps running. Try:
  export PATH="$PWD/.tools/node_modules/.bin:\$PATH"; alias swanpair="node $PWD/control-plane/bin/swanpair.ts"
  swanpair lab inspect
  swanpair status --config /run/swanpair-lab/demo/fleet.yaml
  swanpair tunnels --config /run/swanpair-lab/demo/fleet.yaml
  swanpair lab traffic start; swanpair lab fail a2 --mode kill; swanpair lab traffic read
Remove it with: $0 --down
EOT
fi
