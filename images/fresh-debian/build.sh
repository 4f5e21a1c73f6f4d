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

# The same Debian mirrors as the host's apt (one-line style, whatever the host's format),
# from the indexes apt knows.
sources() {
  # shellcheck disable=SC2016 # $(...) are apt's format fields, not the shell's
  apt-get indextargets --format '$(REPO_URI) $(RELEASE) $(COMPONENT)' \
    'Identifier: Packages' 'Origin: Debian' 2>/dev/null |
    awk -v s="$SUITE" '$2 == s || index($2, s "-") == 1' | sort -u |
    awk '{ k = $1 " " $2; if (!(k in c)) { o[++n] = k; c[k] = $3 } else c[k] = c[k] " " $3 }
         END { for (i = 1; i <= n; i++) print "deb " o[i] " " c[o[i]] }'
}

docker info >/dev/null 2>&1 || { say "no Docker daemon answers"; exit 1; }
SOURCES=$(sources)
if [ -z "$SOURCES" ]; then
  apt-get update -qq # apt has fetched no index yet on a new machine
  SOURCES=$(sources)
fi
[ -n "$SOURCES" ] || { say "apt knows no Debian $SUITE mirror (see /etc/apt/sources.list*)"; exit 1; }
PACKAGES=$(grep -v '^\s*\(#\|$\)' "$here/packages" | paste -sd, -)
HASH=$({
  cat "$here/build.sh" "$here/packages"
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
