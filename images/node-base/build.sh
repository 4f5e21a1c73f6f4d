#!/usr/bin/env bash
# Builds a local stand-in for the registry's node:24-bookworm-slim on machines without a
# registry: Debian 12 (mmdebstrap --variant=apt, with debian:*-slim's dpkg excludes and apt
# settings, ./apt-slim.conf), ca-certificates and the Node 24 binary that scripts/bootstrap.sh
# put into .tools/. Imported as node:24-bookworm-slim, labelled swanpair.inputs=<hash of this
# script, apt-slim.conf, the node binary, suite, variant and apt sources>. Nothing is built
# when an image of that name exists with the same hash, or without that label (a real one
# from a registry: it is used as it is).
# Progress goes to stderr; the last line on stdout is the image's name.
#   images/node-base/build.sh
# Needs root, mmdebstrap and a running Docker daemon.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
SUITE=bookworm
# apt (essential + apt) is smaller than minbase and enough for apt-get install later.
VARIANT=apt
IMAGE=node:24-bookworm-slim
# What debian:bookworm-slim leaves out; kept in the image, so later installs skip them too.
DPKG_EXCLUDES=(/usr/share/doc/'*' /usr/share/man/'*' /usr/share/info/'*' /usr/share/groff/'*'
  /usr/share/lintian/'*' /usr/share/linda/'*' /usr/share/locale/'*')

say() { echo "node-base: $*" >&2; }

# shellcheck source=images/lib/debian-sources.sh
. "$here/../lib/debian-sources.sh"

# The real ELF binary behind .tools/node_modules/.bin/node (a symlink, or a shim on some
# npm versions: then the platform package's binary).
node_binary() {
  local f
  for f in "$(readlink -f "$root/.tools/node_modules/.bin/node" 2>/dev/null)" \
    "$root"/.tools/node_modules/node/node_modules/node-linux-*/bin/node; do
    [ -f "$f" ] && [ "$(od -An -c -N4 "$f" | tr -d ' ')" = '177ELF' ] && { echo "$f"; return; }
  done
  return 1
}

docker info >/dev/null 2>&1 || { say "no Docker daemon answers"; exit 1; }
# "<id> <our label>", or nothing when there is no such image.
old=$(docker image inspect --format '{{.Id}} {{with .Config.Labels}}{{index . "swanpair.inputs"}}{{end}}' \
  "$IMAGE" 2>/dev/null || true)
if [ -n "$old" ] && [ -z "${old#* }" ]; then
  say "using $IMAGE as it is: it was not built here (no swanpair.inputs label)"
  echo "$IMAGE"
  exit 0
fi

NODE=$(node_binary) || { say "no Node binary in .tools/: run scripts/bootstrap.sh"; exit 1; }
NODE_VERSION=$("$NODE" --version)
[[ "$NODE_VERSION" == v24.* ]] || { say "$NODE is $NODE_VERSION, not Node 24"; exit 1; }
SOURCES=$(debian_sources "$SUITE")
HASH=$({
  cat "$here/build.sh" "$here/apt-slim.conf" "$here/../lib/debian-sources.sh"
  sha256sum <"$NODE"
  echo "$SUITE $VARIANT"
  echo "$SOURCES"
} | sha256sum | cut -c1-16)
if [ "${old#* }" = "$HASH" ]; then
  say "$IMAGE is up to date"
  echo "$IMAGE"
  exit 0
fi

say "building $IMAGE ($SUITE, $VARIANT, +ca-certificates, node $NODE_VERSION from $NODE) from:"
awk '{ print "  " $0 }' <<<"$SOURCES" >&2
work=$(mktemp -d /tmp/swanpair-node-base.XXXXXX)
trap 'rm -rf "$work"' EXIT
start=$SECONDS
excludes=()
for p in "${DPKG_EXCLUDES[@]}"; do excludes+=(--dpkgopt="path-exclude=$p"); done
# mmdebstrap reads the sources from stdin ("-"); they become the image's sources.list.
# merged-usr: /usr symlinks as debootstrap makes them; without it apt picks usrmerge, which
# pulls in perl (50 MB). The caches go by hand: apt-slim.conf hides them from apt-get clean.
# shellcheck disable=SC2016 # "$1" is the hook's argument (the chroot), not ours
mmdebstrap --quiet --variant="$VARIANT" --include=ca-certificates "${excludes[@]}" \
  --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr \
  --dpkgopt='path-include=/usr/share/doc/*/copyright' \
  --dpkgopt='path-include=/usr/share/locale/locale.alias' \
  --customize-hook="upload $here/apt-slim.conf /etc/apt/apt.conf.d/docker-slim" \
  --customize-hook='rm -f "$1"/var/cache/apt/*.bin' \
  --customize-hook="copy-in $NODE /usr/local/bin" \
  "$SUITE" "$work/rootfs.tar" - <<<"$SOURCES" >&2
docker import --change 'CMD ["node"]' \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change "ENV NODE_VERSION=${NODE_VERSION#v}" \
  --change "LABEL swanpair.inputs=$HASH swanpair.suite=$SUITE swanpair.variant=$VARIANT" \
  --message "mmdebstrap --variant=$VARIANT --include=ca-certificates $SUITE + node $NODE_VERSION" \
  "$work/rootfs.tar" "$IMAGE" >/dev/null
say "built $IMAGE in $((SECONDS - start)) s ($(du -h "$work/rootfs.tar" | cut -f1) tarball)"

# The build it replaced (other inputs) is untagged now and only takes space.
if [ -n "$old" ]; then docker image rm "${old%% *}" >/dev/null 2>&1 || true; fi
echo "$IMAGE"
