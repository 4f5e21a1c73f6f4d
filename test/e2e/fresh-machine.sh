#!/usr/bin/env bash
# The fresh-machine test: the README's main job, `./scripts/demo.sh`, in a container that
# holds Debian 12 minbase plus git and ca-certificates and nothing else
# (images/fresh-debian/), run as root from a git clone of the committed HEAD.
#   test/e2e/fresh-machine.sh
# Environment:
#   SWANPAIR_FRESH_SRC      the git repository to clone (default: the checkout this script is in)
#   SWANPAIR_FRESH_TIMEOUT  seconds before the run counts as failed (default 1500)
#   SWANPAIR_FRESH_LOG      also keep the container's whole output (timestamped) in this file
# Needs root and a running Docker daemon (scripts/dockerd.sh start). Prints the elapsed time;
# on failure exits 1 and prints the container's output. The container is always removed.
# The demo is the failover lab, whose containers need a Docker engine: the container borrows
# this machine's (its socket is mounted), so its lab's containers run beside it, and a Docker
# engine inside a container without --privileged is not possible here. The demo still installs
# docker.io itself, and would start an engine of its own on a real machine.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
SRC=${SWANPAIR_FRESH_SRC:-$root}
TIMEOUT=${SWANPAIR_FRESH_TIMEOUT:-1500}
# On these machines npm, pip and git trust the registries through the host's CA bundle (the
# machine's network, not a pre-install); it is mounted beside the container's own bundle.
HOST_CA=/etc/ssl/certs/ca-certificates.crt
CA=/run/swanpair-host-ca/ca-certificates.crt
NAME=swanpair-fresh-$$

say() { echo "fresh-machine: $*"; }
t0=$SECONDS

docker info >/dev/null 2>&1 || { say "no Docker daemon answers (start one: scripts/dockerd.sh start)"; exit 1; }
gitdir=$(git -C "$SRC" rev-parse --path-format=absolute --git-common-dir)
sha=$(git -C "$SRC" rev-parse HEAD)
image=$(bash "$root/images/fresh-debian/build.sh")

log=$(mktemp /tmp/swanpair-fresh-machine.XXXXXX)
cleanup() {
  docker rm -f "$NAME" >/dev/null 2>&1 || true
  # The demo's lab, should the container have died before removing it.
  leftovers=$(docker ps -aq --filter label=swanpair.lab=demo)
  # shellcheck disable=SC2086 # one id per word
  [ -z "$leftovers" ] || docker rm -f $leftovers >/dev/null 2>&1 || true
  docker network ls -q --filter label=swanpair.lab=demo | xargs -r docker network rm >/dev/null 2>&1 || true
  rm -f "$log"
}
trap cleanup EXIT

# What runs inside: clone the commit as CI clones main, then the README's command.
# shellcheck disable=SC2016 # expanded by the container's shell
inside='set -euo pipefail
# The mounted repository may belong to another user than root.
[ "$(stat -c %u /src.git)" = 0 ] || git config --global --add safe.directory "*"
git clone --quiet --no-local /src.git /root/swanpair
cd /root/swanpair
git -c advice.detachedHead=false checkout --quiet "$SWANPAIR_SHA"
echo "fresh-machine: cloned $(git log -1 --format="%h %s" | cut -c1-72)"
./scripts/demo.sh'

ca_args=()
if [ -f "$HOST_CA" ]; then
  ca_args=(-v "$HOST_CA:$CA:ro"
    -e "npm_config_cafile=$CA" -e "PIP_CERT=$CA" -e "NODE_EXTRA_CA_CERTS=$CA" -e "GIT_SSL_CAINFO=$CA")
fi

say "running ./scripts/demo.sh from $SRC at ${sha:0:12} in $image (container $NAME)"
# --network host: the demo's namespaces are the container's own; the container reaches the
# mirrors as the host does and dockerd needs no NAT (decision 0010). No --privileged: it
# fails on these machines; these capabilities and /dev/net/tun are what the demo needs.
set +e
# At the time limit the client is killed (it outlives a TERM) and the container removed below.
timeout -s KILL "$TIMEOUT" docker run --name "$NAME" --sig-proxy=false --network host \
  --cap-add ALL --cap-drop SYS_RESOURCE --security-opt seccomp=unconfined \
  --device /dev/net/tun --security-opt apparmor=unconfined \
  -v /var/run/docker.sock:/var/run/docker.sock \
  -v "$gitdir:/src.git:ro" "${ca_args[@]}" -e "SWANPAIR_SHA=$sha" \
  "$image" bash -c "$inside" 2>&1 |
  while IFS= read -r line; do printf '[%4d s] %s\n' $((SECONDS - t0)) "$line"; done >"$log"
rc=${PIPESTATUS[0]}
set -e

t_rm=$SECONDS
docker rm -f "$NAME" >/dev/null 2>&1 || true
t_rm=$((SECONDS - t_rm))
elapsed=$((SECONDS - t0))
[ -z "${SWANPAIR_FRESH_LOG:-}" ] || cp "$log" "$SWANPAIR_FRESH_LOG"
if [ "$rc" -ne 0 ]; then
  [ "$rc" -ne 137 ] || say "timed out after $TIMEOUT s"
  say "FAILED (exit $rc) after $elapsed s; the container's output follows"
  cat "$log"
  exit 1
fi
# Progress lines only, with the seconds since the start: where the time went.
grep -E '^\[ *[0-9]+ s\] (fresh-machine|bootstrap|demo|lab|  [a-z0-9]+ -> )' "$log" || true
say "passed in $elapsed s (removing the container: $t_rm s)"
