#!/usr/bin/env bash
# Installs what swanpair needs on a fresh Debian 12 machine, as root. Idempotent: a second
# run only checks. Node 24 comes from the npm registry into .tools/ (Debian 12 ships Node 18).
set -euo pipefail
cd "$(dirname "$0")/.."

[ "$(id -u)" -eq 0 ] || { echo "bootstrap: run as root (strongSwan and network namespaces need it)" >&2; exit 2; }

DEB_PACKAGES=(
  charon-systemd strongswan-swanctl libcharon-extra-plugins libstrongswan-extra-plugins
  iproute2 iptables iputils-ping ca-certificates shellcheck
  python3 python3-venv
)
# npm is only needed to fetch Node 24; any npm will do, Debian's if there is none.
command -v npm >/dev/null || DEB_PACKAGES+=(nodejs npm)
missing=()
for p in "${DEB_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "bootstrap: installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

NODE=.tools/node_modules/.bin/node
if ! [ -x "$NODE" ] || ! "$NODE" --version | grep -q '^v24\.'; then
  echo "bootstrap: installing Node 24 into .tools/"
  npm install --prefix .tools --no-audit --no-fund --loglevel=error node@24 >/dev/null
fi
export PATH="$PWD/.tools/node_modules/.bin:$PATH"

# Reinstall dependencies only when the lock file changed since the last install.
if ! [ node_modules/.package-lock.json -nt package-lock.json ]; then
  echo "bootstrap: npm ci"
  npm ci --no-audit --no-fund --loglevel=error >/dev/null
  # tap compiles its plugin list on first use; do it now so the first test run is not the one that does.
  npx tap build >/dev/null
fi
# moto (a local EC2 API) for the control plane's integration tests, in .venv/ (gitignored);
# pinned, because the tests rely on how this version answers.
MOTO_VERSION=5.2.5
if ! .venv/bin/python -c "import moto, sys; sys.exit(moto.__version__ != '$MOTO_VERSION')" 2>/dev/null; then
  echo "bootstrap: installing moto $MOTO_VERSION into .venv/"
  python3 -m venv .venv
  .venv/bin/pip install --quiet --disable-pip-version-check "moto[server]==$MOTO_VERSION"
fi
echo "bootstrap: ready (node $(node --version), strongSwan $(dpkg-query -W -f='${Version}' charon-systemd))"
