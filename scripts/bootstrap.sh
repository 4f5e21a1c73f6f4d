#!/usr/bin/env bash
# Installs what swanpair needs on a fresh Debian 12 machine, as root. Idempotent: a second
# run only checks. Node 24 comes from the npm registry into .tools/ (Debian 12 ships Node 18).
#   scripts/bootstrap.sh            everything: the agent, the controller, the lab and the tests
#   scripts/bootstrap.sh --runtime  what the demo (the failover lab) needs, not the test tools
# The lab needs Docker (docker.io: the engine is started by scripts/dockerd.sh, never by the
# package), mmdebstrap for its offline images, openssl for its certificates and moto for EC2.
set -euo pipefail
cd "$(dirname "$0")/.."

RUNTIME_ONLY=0
case "${1:-}" in
  --runtime) RUNTIME_ONLY=1 ;;
  "") ;;
  *) echo "usage: $0 [--runtime]" >&2; exit 2 ;;
esac

[ "$(id -u)" -eq 0 ] || { echo "bootstrap: run as root (strongSwan and network namespaces need it)" >&2; exit 2; }

APT_UPDATED=0
installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
# Installs the Debian packages among "$@" that are not installed yet.
apt_install() {
  local missing=() p
  for p in "$@"; do
    installed "$p" || missing+=("$p")
  done
  [ ${#missing[@]} -gt 0 ] || return 0
  echo "bootstrap: installing ${missing[*]}"
  if [ "$APT_UPDATED" -eq 0 ]; then apt-get update -qq; APT_UPDATED=1; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

BASE_PACKAGES=(iproute2 iptables iputils-ping procps ca-certificates openssl python3 python3-venv)
[ "$RUNTIME_ONLY" -eq 1 ] || BASE_PACKAGES+=(shellcheck)
# npm is only needed to fetch Node 24; any npm will do, Debian's if there is none.
command -v npm >/dev/null || BASE_PACKAGES+=(nodejs npm)
apt_install "${BASE_PACKAGES[@]}"

# Installs "$@" with no service started by the install: swanpair starts what it needs itself.
apt_install_no_start() {
  local policy=/usr/sbin/policy-rc.d added_policy=0 status=0
  if ! [ -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy" && added_policy=1
  fi
  apt_install "$@" || status=$?
  [ "$added_policy" -eq 0 ] || rm -f "$policy"
  return "$status"
}

# Docker from Debian; scripts/dockerd.sh runs the engine (docs/decisions/0010).
apt_install_no_start docker.io mmdebstrap
# FRR for aws-vpn BGP: the agent runs zebra and bgpd itself (decision 0024), and the tests
# run them for the VGW simulator; the package's own service stays off.
[ "$RUNTIME_ONLY" -eq 1 ] || apt_install_no_start frr
# The install tests validate user data with Debian's cloud-init and the AMI template with its
# packer. cloud-init installed here only for that must not run at this machine's next boot;
# one the machine had before is left alone.
if [ "$RUNTIME_ONLY" -eq 0 ]; then
  if ! installed cloud-init; then
    apt_install_no_start cloud-init
    mkdir -p /etc/cloud && touch /etc/cloud/cloud-init.disabled
  fi
  apt_install_no_start packer
fi

NODE=.tools/node_modules/.bin/node
if ! [ -x "$NODE" ] || ! "$NODE" --version | grep -q '^v24\.'; then
  echo "bootstrap: installing Node 24 into .tools/"
  npm install --prefix .tools --no-audit --no-fund --loglevel=error node@24 >/dev/null
fi
export PATH="$PWD/.tools/node_modules/.bin:$PATH"

# strongSwan: charon-systemd, swanctl and the package of every plugin the agent loads, from
# the one table in agent/src/render/plugins.ts (the tests load a few more).
runtime_flag=()
[ "$RUNTIME_ONLY" -eq 0 ] || runtime_flag=(--runtime)
strongswan_packages=$(node scripts/deb-packages.ts "${runtime_flag[@]}")
# shellcheck disable=SC2086 # one package name per word
apt_install $strongswan_packages

# Reinstall dependencies only when the lock file changed since the last install.
if ! [ node_modules/.package-lock.json -nt package-lock.json ]; then
  echo "bootstrap: npm ci"
  npm ci --no-audit --no-fund --loglevel=error >/dev/null
  # tap compiles its plugin list on first use; do it now so the first test run is not the one that does.
  [ "$RUNTIME_ONLY" -eq 1 ] || npx tap build >/dev/null
fi
# moto (a local EC2 API) for the lab and the control plane's integration tests, in .venv/
# (gitignored); pinned, because the tests rely on how this version answers.
MOTO_VERSION=5.2.5
if ! .venv/bin/python -c "import moto, sys; sys.exit(moto.__version__ != '$MOTO_VERSION')" 2>/dev/null; then
  echo "bootstrap: installing moto $MOTO_VERSION into .venv/"
  python3 -m venv .venv
  .venv/bin/pip install --quiet --disable-pip-version-check "moto[server]==$MOTO_VERSION"
fi
# cfn-lint for the CloudFormation template's test (test/integration/cloudformation.test.ts),
# in a venv of its own under .tools/ (gitignored), so that its dependencies stay out of moto's;
# pinned like moto, because the test expects this version's verdicts.
CFN_LINT_VERSION=1.58.0
if [ "$RUNTIME_ONLY" -eq 0 ] &&
  [ "$(.tools/cfn-lint/bin/cfn-lint --version 2>/dev/null)" != "cfn-lint $CFN_LINT_VERSION" ]; then
  echo "bootstrap: installing cfn-lint $CFN_LINT_VERSION into .tools/cfn-lint/"
  python3 -m venv .tools/cfn-lint
  .tools/cfn-lint/bin/pip install --quiet --disable-pip-version-check "cfn-lint==$CFN_LINT_VERSION"
fi
echo "bootstrap: ready (node $(node --version), strongSwan $(dpkg-query -W -f='${Version}' charon-systemd))"
