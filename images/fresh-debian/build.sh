#!/usr/bin/env bash
# Builds the fresh-machine image: a minimal Debian 12 (mmdebstrap --variant=minbase) with
# only git and ca-certificates added (./packages), imported into the local Docker as
# swanpair/fresh-debian12:<hash>, where <hash> covers this script, ./packages and the apt
# sources. No registry is involved. If that tag exists already, nothing is built.
# Progress goes to stderr; the last line on stdout is the image's name.
#   images/fresh-debian/build.sh
# Needs root, mmdebstrap and a running Docker daemon.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
SUITE=bookworm
VARIANT=minbase
REPO=swanpair/fresh-debian12

say() { echo "fresh-debian: $*" >&2; }

# shellcheck source=images/lib/debian-sources.sh
. "$here/../lib/debian-sources.sh"

docker info >/dev/null 2>&1 || { say "no Docker daemon answers"; exit 1; }
SOURCES=$(debian_sources "$SUITE")
PACKAGES=$(grep -v '^\s*\(#\|$\)' "$here/packages" | paste -sd, -)
HASH=$({
  cat "$here/build.sh" "$here/packages" "$here/../lib/debian-sources.sh"
  echo "$SUITE $VARIANT"
  echo "$SOURCES"
} | sha256sum | cut -c1-16)
IMAGE="$REPO:$HASH"

if docker image inspect "$IMAGE" >/dev/null 2>&1; then
  say "$IMAGE is up to date"
  echo "$IMAGE"
  exit 0
fi

say "building $IMAGE ($SUITE, $VARIANT, +$PACKAGES) from:"
awk '{ print "  " $0 }' <<<"$SOURCES" >&2
work=$(mktemp -d /tmp/swanpair-fresh-debian.XXXXXX)
trap 'rm -rf "$work"' EXIT
start=$SECONDS
# mmdebstrap reads the sources from stdin ("-"); they become the image's sources.list.
mmdebstrap --quiet --variant="$VARIANT" --include="$PACKAGES" \
  "$SUITE" "$work/rootfs.tar" - <<<"$SOURCES" >&2
docker import --change 'CMD ["/bin/bash"]' \
  --change "LABEL swanpair.inputs=$HASH swanpair.suite=$SUITE swanpair.variant=$VARIANT" \
  --message "mmdebstrap --variant=$VARIANT --include=$PACKAGES $SUITE" \
  "$work/rootfs.tar" "$IMAGE" >/dev/null
say "built $IMAGE in $((SECONDS - start)) s ($(du -h "$work/rootfs.tar" | cut -f1) tarball)"

# Earlier builds (other inputs) only take space.
old=$(docker image ls --format '{{.Repository}}:{{.Tag}}' "$REPO" | grep -vxF "$IMAGE" || true)
if [ -n "$old" ]; then
  say "removing older builds: $(paste -sd' ' <<<"$old")"
  # shellcheck disable=SC2086 # one image name per word
  docker image rm $old >/dev/null || true
fi
echo "$IMAGE"
