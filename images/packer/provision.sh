#!/bin/sh
# Runs as root on the build instance (swanpair.pkr.hcl): installs the uploaded .deb with its
# dependencies from Debian, starts nothing, and removes what is this instance's, so that
# every instance of the AMI boots as a new machine.
set -eu
deb=/tmp/swanpair.deb
echo "$DEB_SHA256  $deb" | sha256sum --check --strict -

# Packer 1.6.6 cannot ask EC2 for IMDSv2 only, so check that something did (the account's
# metadata defaults, the base AMI, a newer Packer's metadata_options): a request without a
# token must get 401.
if [ "$REQUIRE_IMDSV2" = true ]; then
  status=$(python3 -c 'import urllib.request as r, urllib.error as e
try: print(r.urlopen("http://169.254.169.254/latest/meta-data/", timeout=5).status)
except e.HTTPError as x: print(x.code)')
  if [ "$status" != 401 ]; then
    echo "IMDSv1 answered ($status): require IMDSv2, see docs/install.md (AMI with Packer)" >&2
    exit 1
  fi
fi

# Nothing starts while we install: the AMI's first start of a unit is an instance's boot.
printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
chmod 0755 /usr/sbin/policy-rc.d
trap 'rm -f /usr/sbin/policy-rc.d' EXIT

export DEBIAN_FRONTEND=noninteractive
apt-get update
# The AMI carries today's Debian security fixes, not only those of the base AMI.
apt-get -y -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold upgrade
apt-get -y --no-install-recommends install "$deb"
rm -f "$deb"

# Debian's own charon (charon-systemd's unit) would take ports 500 and 4500.
for unit in strongswan.service strongswan-starter.service; do
  if systemctl cat "$unit" >/dev/null 2>&1; then systemctl disable "$unit"; fi
done

# The units stay disabled: the first boot enables and starts them once it has written the
# config and what goes with it (images/user-data). Enabled here, they would start at that
# boot as soon as agent.yaml exists, before the drop-ins and sysctls written beside it
# take effect (systemd reads new drop-ins only at a daemon-reload).
systemctl daemon-reload
for unit in swanpair-charon swanpair-agent swanpair-controller; do
  systemctl cat "$unit.service" >/dev/null
  if systemctl is-enabled --quiet "$unit.service"; then systemctl disable "$unit.service"; fi
done

apt-get clean
rm -rf /var/lib/apt/lists/*
# cloud-init runs again at first boot (new SSH host keys, the instance's own key); an empty
# machine-id makes systemd generate one without first-boot presets (which would enable
# strongswan.service again); Packer's temporary key leaves with this instance.
cloud-init clean --logs
truncate -s 0 /etc/machine-id
rm -f /home/admin/.ssh/authorized_keys /root/.ssh/authorized_keys
journalctl --rotate --vacuum-time=1s >/dev/null 2>&1 || true
