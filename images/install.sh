#!/bin/sh
# swanpair installer for the release tarball, on Debian/Ubuntu (apt) and Amazon Linux 2023
# (dnf). Run as root:
#
#   install.sh --artifact swanpair-<v>-linux-x64.tar.gz --sha256 <hex>    install or upgrade
#   install.sh --artifact https://.../swanpair-<v>-linux-x64.tar.gz --sums SHA256SUMS [--enable]
#   install.sh --uninstall [--keep-config]                                 remove what it added
#
# It installs strongSwan's packages (the tarball's usr/lib/swanpair/share/debian-packages on
# apt), the file tree of the tarball (the same as the .deb's), sysctls for a VPN appliance and
# /etc/swanpair (mode 0700). Run again with a newer tarball, it upgrades in place: the config
# is kept, files the new tree no longer has are removed, and only the agent and the
# controller are restarted, never swanpair-charon.service (it holds the SAs). Run again with
# the same tarball, it changes nothing and restarts nothing. --enable also enables and starts
# charon and the agent. What it added is recorded in /var/lib/swanpair-install, so that
# --uninstall removes exactly that (packages included, unless other packages need them) and
# nothing else; /etc/swanpair goes too unless --keep-config. docs/install.md.
set -eu

STATE=/var/lib/swanpair-install
SYSCTL=/etc/sysctl.d/60-swanpair.conf
UNITS="swanpair-controller.service swanpair-agent.service swanpair-charon.service"
DISTRO_UNITS="strongswan.service strongswan-starter.service"

die() {
  echo "install.sh: $*" >&2
  exit 1
}
say() { echo "install.sh: $*"; }
usage() {
  sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

artifact=""
sha256=""
sums=""
uninstall=0
keep_config=0
enable=0
while [ $# -gt 0 ]; do
  case "$1" in
  --artifact) [ $# -ge 2 ] || usage; artifact=$2; shift 2 ;;
  --sha256) [ $# -ge 2 ] || usage; sha256=$2; shift 2 ;;
  --sums) [ $# -ge 2 ] || usage; sums=$2; shift 2 ;;
  --uninstall) uninstall=1; shift ;;
  --keep-config) keep_config=1; shift ;;
  --enable) enable=1; shift ;;
  -h | --help) usage ;;
  *) echo "install.sh: unknown argument $1" >&2; usage ;;
  esac
done

[ "$(id -u)" -eq 0 ] || die "run as root"
systemd_runs() { [ -d /run/systemd/system ]; }

# apt or dnf, from the package managers present.
pm=""
if command -v apt-get >/dev/null 2>&1; then
  pm=apt
elif command -v dnf >/dev/null 2>&1; then
  pm=dnf
fi

installed() {
  case "$pm" in
  apt) dpkg-query -W -f='${db:Status-Status}\n' "$1" 2>/dev/null | grep -qx installed ;;
  dnf) rpm -q "$1" >/dev/null 2>&1 ;;
  *) return 1 ;;
  esac
}

# Every installed package's name, one per line, sorted.
package_set() {
  case "$pm" in
  apt) dpkg-query -W -f='${db:Status-Status} ${Package}\n' | awk '$1 == "installed" { print $2 }' | sort ;;
  dnf) rpm -qa --qf '%{NAME}\n' | sort ;;
  esac
}

# Installs the packages not installed yet, and records every package that came with them
# (dependencies too), so that --uninstall removes exactly those.
install_packages() {
  missing=""
  for p in "$@"; do
    installed "$p" || missing="$missing $p"
  done
  [ -n "$missing" ] || return 0
  say "installing packages:$missing"
  package_set >"$work/before"
  case "$pm" in
  apt)
    # The lists first: a fresh machine has none, an old one may name versions long gone.
    apt-get update -qq || die "apt-get update failed"
    # shellcheck disable=SC2086 # a list of package names
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null ||
      die "apt-get could not install:$missing"
    ;;
  dnf)
    # shellcheck disable=SC2086
    dnf install -y $missing >/dev/null ||
      die "dnf could not install:$missing (Amazon Linux 2023 has no strongswan package: install strongSwan 5.9 with charon-systemd and swanctl from a repository you trust, then run this again)"
    ;;
  esac
  package_set | comm -13 "$work/before" - >>"$STATE/packages"
}

# The names of the tarball's package list, or the dnf equivalents.
packages_for() {
  tree=$1
  case "$pm" in
  apt) grep -v '^$' "$tree/usr/lib/swanpair/share/debian-packages" ;;
  dnf) printf '%s\n' strongswan iproute iputils procps-ng ;;
  esac
}

# Removes the packages it installed, all of them or none: never one that a package installed
# since needs (apt would remove that one too; rpm -e refuses).
remove_packages() {
  [ -s "$STATE/packages" ] || return 0
  list=$(tr '\n' ' ' <"$STATE/packages" | sed 's/ $//')
  case "$pm" in
  apt)
    # shellcheck disable=SC2086 # one package name per word
    more=$(apt-get -s purge $list 2>/dev/null | awk '$1 == "Purg" { print $2 }' | grep -vxF -f "$STATE/packages" || true)
    if [ -n "$more" ]; then
      say "kept the packages it had installed ($list): removing them would remove $(echo "$more" | tr '\n' ' ')too"
      return 0
    fi
    # shellcheck disable=SC2086
    DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq $list >/dev/null ||
      die "apt-get purge failed:$list"
    ;;
  dnf)
    # shellcheck disable=SC2086
    rpm -e $list || { say "kept the packages it had installed ($list): others need them"; return 0; }
    ;;
  esac
  say "removed the packages it had installed: $list"
}

stop_units() {
  systemd_runs || return 0
  # charon last: the agent and the controller first let go of it.
  for u in $UNITS; do systemctl disable --now "$u" >/dev/null 2>&1 || true; done
}

do_uninstall() {
  [ -d "$STATE" ] || die "nothing to uninstall: $STATE is missing (was it installed by install.sh?)"
  stop_units
  if [ -f "$STATE/manifest" ]; then
    # Files and links first, then directories deepest first, only those it made and only empty.
    grep -v '/$' "$STATE/manifest" | while IFS= read -r path; do rm -f "/$path"; done
    grep '/$' "$STATE/manifest" | sort -r | while IFS= read -r dir; do
      rmdir "/$dir" 2>/dev/null || true
    done
  fi
  if [ -f "$STATE/created-sysctl" ]; then rm -f "$SYSCTL"; fi
  rm -rf /var/lib/swanpair /run/swanpair /run/swanpair-charon
  if [ "$keep_config" -eq 1 ]; then
    say "kept /etc/swanpair"
  elif [ -f "$STATE/created-etc" ]; then
    rm -rf /etc/swanpair
    say "removed /etc/swanpair (its config and keys); --keep-config keeps it"
  fi
  if systemd_runs; then systemctl daemon-reload; fi
  remove_packages
  # The distribution's charon units it disabled, if their packages are still there.
  if [ -s "$STATE/distro-units" ] && systemd_runs; then
    while IFS= read -r u; do
      if systemctl cat "$u" >/dev/null 2>&1; then
        systemctl enable --now "$u" >/dev/null 2>&1 || say "warning: could not enable $u again"
      fi
    done <"$STATE/distro-units"
  fi
  rm -rf "$STATE"
  say "uninstalled"
}

if [ "$uninstall" -eq 1 ]; then
  do_uninstall
  exit 0
fi

[ -n "$artifact" ] || usage
[ -n "$sha256" ] || [ -n "$sums" ] || die "give --sha256 or --sums: the artifact is installed only once its checksum is verified"
[ -n "$pm" ] || die "no apt-get or dnf here: install strongSwan by hand, this installer supports Debian, Ubuntu and Amazon Linux 2023"
if [ "$enable" -eq 1 ]; then
  systemd_runs || die "--enable needs systemd, which does not run here"
  [ -f /etc/swanpair/agent.yaml ] || die "--enable needs /etc/swanpair/agent.yaml (charon's unit renders its strongswan.conf from it): write it first, or leave --enable out"
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
name=$(basename "$artifact")
case "$artifact" in
https://*) curl --fail --silent --show-error --location --proto '=https' -o "$work/$name" "$artifact" ;;
http://*) die "refusing $artifact: give an https:// URL or a file" ;;
*) [ -f "$artifact" ] || die "$artifact: no such file"; cp "$artifact" "$work/$name" ;;
esac
if [ -z "$sha256" ]; then
  case "$sums" in
  https://*) curl --fail --silent --show-error --location --proto '=https' -o "$work/SHA256SUMS" "$sums" ;;
  http://*) die "refusing $sums: give an https:// URL or a file" ;;
  *) [ -f "$sums" ] || die "$sums: no such file"; cp "$sums" "$work/SHA256SUMS" ;;
  esac
  sha256=$(awk -v n="$name" '$2 == n || $2 == "*" n { print $1 }' "$work/SHA256SUMS")
  [ -n "$sha256" ] || die "$sums lists no checksum for $name"
fi
actual=$(sha256sum "$work/$name" | cut -d' ' -f1)
[ "$actual" = "$sha256" ] || die "checksum mismatch for $name: expected $sha256, got $actual"

mkdir -p "$work/x"
tar -xzf "$work/$name" -C "$work/x"
top=$(find "$work/x" -mindepth 1 -maxdepth 1 -type d | head -n 1)
[ -f "$top/usr/lib/swanpair/VERSION" ] || die "$name is not a swanpair release tarball"
version=$(cat "$top/usr/lib/swanpair/VERSION")

mkdir -p "$STATE"
chmod 0700 "$STATE"
upgrade=0
old_version=""
if [ -f "$STATE/manifest" ]; then
  upgrade=1
  old_version=$(cat /usr/lib/swanpair/VERSION 2>/dev/null || echo unknown)
fi
# shellcheck disable=SC2046 # one package name per line
install_packages $(packages_for "$top")

# Whether the installed path $2 is already what the tree's $1 is: the same link target, or
# a regular file with the same mode and bytes.
same() {
  if [ -L "$1" ]; then
    [ -L "$2" ] && [ "$(readlink "$1")" = "$(readlink "$2")" ]
  else
    [ -f "$2" ] && [ ! -L "$2" ] && [ "$(stat -c %a "$1")" = "$(stat -c %a "$2")" ] && cmp -s "$1" "$2"
  fi
}

# The tree, file by file, each replaced atomically; /etc/swanpair is the operator's.
(cd "$top" && find . -mindepth 1 \( -type f -o -type l \) ! -path './etc/*' | sed 's|^\./||' | sort) >"$work/files"
(cd "$top" && find . -mindepth 1 -type d ! -path './etc' ! -path './etc/*' | sed 's|^\./||' | sort) >"$work/dirs"
: >"$work/manifest"
changed=0
while IFS= read -r dir; do
  if [ ! -d "/$dir" ]; then
    mkdir -m 0755 "/$dir"
    echo "$dir/" >>"$work/manifest"
    changed=1
  elif grep -qxF "$dir/" "$STATE/manifest" 2>/dev/null; then
    echo "$dir/" >>"$work/manifest"
  fi
done <"$work/dirs"
while IFS= read -r file; do
  echo "$file" >>"$work/manifest"
  if same "$top/$file" "/$file"; then continue; fi
  if [ -L "$top/$file" ]; then
    ln -sfn "$(readlink "$top/$file")" "/$file.swanpair-new"
  else
    cp -p "$top/$file" "/$file.swanpair-new"
  fi
  mv -fT "/$file.swanpair-new" "/$file"
  changed=1
done <"$work/files"
# What the old tree had and the new one has not: files, then the directories it made.
if [ "$upgrade" -eq 1 ]; then
  sort "$work/manifest" >"$work/new"
  sort "$STATE/manifest" | comm -23 - "$work/new" >"$work/gone"
  while IFS= read -r old; do
    case "$old" in
    */) ;;
    *) rm -f "/$old"; changed=1 ;;
    esac
  done <"$work/gone"
  grep '/$' "$work/gone" | sort -r | while IFS= read -r dir; do
    rmdir "/$dir" 2>/dev/null || true
  done
fi
sort -u "$work/manifest" >"$STATE/manifest"

if [ ! -d /etc/swanpair ]; then
  mkdir -m 0700 /etc/swanpair
  touch "$STATE/created-etc"
fi
chmod 0700 /etc/swanpair

cat >"$work/sysctl" <<'EOF'
# swanpair: a VPN appliance forwards, and its replies may leave by another interface than
# the one a packet came in by (a tunnel); it must not tell hosts to go around it.
net.ipv4.ip_forward = 1
net.ipv4.conf.all.rp_filter = 2
net.ipv4.conf.default.rp_filter = 2
net.ipv4.conf.all.send_redirects = 0
net.ipv4.conf.default.send_redirects = 0
net.ipv4.conf.all.accept_redirects = 0
net.ipv4.conf.default.accept_redirects = 0
EOF
if ! cmp -s "$work/sysctl" "$SYSCTL"; then
  [ -e "$SYSCTL" ] || [ "$upgrade" -eq 1 ] || touch "$STATE/created-sysctl"
  cp "$work/sysctl" "$SYSCTL"
  chmod 0644 "$SYSCTL"
  sysctl -q -p "$SYSCTL" >/dev/null 2>&1 || say "warning: could not apply $SYSCTL now (read-only /proc/sys, as in a container?); it applies at boot"
fi

if systemd_runs; then
  # Debian's own charon would take ports 500 and 4500 (swanpair-charon.service conflicts).
  for u in $DISTRO_UNITS; do
    if systemctl is-enabled "$u" >/dev/null 2>&1; then
      systemctl disable --now "$u" >/dev/null 2>&1 || true
      grep -qxF "$u" "$STATE/distro-units" 2>/dev/null || echo "$u" >>"$STATE/distro-units"
    fi
  done
  if [ "$changed" -eq 1 ]; then
    systemctl daemon-reload
    # New files for the agent and the controller; charon's SAs stay up (decision 0022).
    if [ "$upgrade" -eq 1 ]; then
      systemctl try-restart swanpair-agent.service swanpair-controller.service || true
    fi
  fi
  if [ "$enable" -eq 1 ]; then
    /usr/bin/swanpair-agent validate --config /etc/swanpair/agent.yaml >/dev/null ||
      die "swanpair $version is installed, but /etc/swanpair/agent.yaml is not valid (above): fix it, then: systemctl enable --now swanpair-charon swanpair-agent"
    systemctl enable --now swanpair-charon.service swanpair-agent.service
  fi
fi

if [ "$upgrade" -eq 0 ]; then
  say "installed swanpair $version; put the agent's config in /etc/swanpair/agent.yaml, then: systemctl enable --now swanpair-charon swanpair-agent"
elif [ "$changed" -eq 1 ]; then
  say "upgraded swanpair $old_version to $version; the config in /etc/swanpair is kept"
else
  say "swanpair $version is installed already: nothing changed"
fi
