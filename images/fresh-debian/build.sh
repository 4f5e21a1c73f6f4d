#!/usr/bin/env bash
# Builds the fresh-machine image: a minimal Debian 12 (mmdebstrap --variant=minbase) with
# only git and ca-certificates added (./packages), imported into the local Docker as
# swanpair/fresh-debian12:<hash>, where <hash> covers this script, ./packages and the apt
# sources. No registry is involved. If that tag exists already, nothing is built.
# Progress goes to stderr; the last line on stdout is the image's name.
#   images/fresh-debian/build.sh             the fresh machine (test/e2e/fresh-machine.sh)
#   images/fresh-debian/build.sh --systemd   the same plus systemd as init, for the install
#                                            tests (test/e2e/install.test.ts)
# --systemd adds systemd, systemd-sysv (/sbin/init) and dbus, which a Debian 12 install has
# (systemd recommends it; systemctl and systemd-analyze security talk to the manager over
# it), and masks the timers that would change the machine on their own during a test (apt's
# daily update and upgrade, dpkg's database backup, e2scrub); the image runs
# /lib/systemd/systemd with container=docker (stop it with SIGRTMIN+3). It is tagged
# swanpair/fresh-debian12-systemd:<hash>. How to run it: docs/install.md ("The tests").
# Needs root, mmdebstrap and a running Docker daemon.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
SUITE=bookworm
VARIANT=minbase
REPO=swanpair/fresh-debian12
FLAVOUR=plain
case "${1:-}" in
"") ;;
--systemd) FLAVOUR=systemd REPO=swanpair/fresh-debian12-systemd ;;
*) echo "usage: $0 [--systemd]" >&2; exit 2 ;;
esac
# The systemd flavour's additions: init, and the timers it masks.
SYSTEMD_PACKAGES=systemd,systemd-sysv,dbus
SYSTEMD_MASKED="apt-daily.timer apt-daily-upgrade.timer dpkg-db-backup.timer e2scrub_all.timer"

say() { echo "fresh-debian: $*" >&2; }

# shellcheck source=images/lib/debian-sources.sh
. "$here/../lib/debian-sources.sh"

docker info >/dev/null 2>&1 || { say "no Docker daemon answers"; exit 1; }
SOURCES=$(debian_sources "$SUITE")
PACKAGES=$(grep -v '^\s*\(#\|$\)' "$here/packages" | paste -sd, -)
[ "$FLAVOUR" = plain ] || PACKAGES="$PACKAGES,$SYSTEMD_PACKAGES"
HASH=$({
  cat "$here/build.sh" "$here/packages" "$here/../lib/debian-sources.sh"
  echo "$SUITE $VARIANT"
  [ "$FLAVOUR" = plain ] || echo "$FLAVOUR"
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
hooks=()
labels="swanpair.inputs=$HASH swanpair.suite=$SUITE swanpair.variant=$VARIANT"
changes=(--change 'CMD ["/bin/bash"]')
if [ "$FLAVOUR" = systemd ]; then
  hooks=(--customize-hook="chroot \"\$1\" systemctl mask $SYSTEMD_MASKED")
  labels="$labels swanpair.flavour=$FLAVOUR"
  # docker import takes no STOPSIGNAL: run it with --stop-signal SIGRTMIN+3.
  changes=(--change 'CMD ["/lib/systemd/systemd"]' --change 'ENV container=docker')
fi
# mmdebstrap reads the sources from stdin ("-"); they become the image's sources.list.
mmdebstrap --quiet --variant="$VARIANT" --include="$PACKAGES" "${hooks[@]}" \
  "$SUITE" "$work/rootfs.tar" - <<<"$SOURCES" >&2
docker import "${changes[@]}" \
  --change "LABEL $labels" \
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
