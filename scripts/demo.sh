#!/usr/bin/env bash
# The main job until the failover lab exists: two appliances, a1 and b1, each in its own
# network namespace with swanpair-agent (child mode, libipsec datapath), bring up an IPsec
# tunnel; ping passes between the subnets behind them and `status` shows the tunnel up.
#   ./scripts/demo.sh          run, show, tear down
#   ./scripts/demo.sh --keep   leave the lab running and print how to use it
#   ./scripts/demo.sh --down   remove a lab left by --keep
# SWANPAIR_DEMO_CHARON=PATH runs another charon-systemd build (default /usr/sbin/charon-systemd).
set -euo pipefail
cd "$(dirname "$0")/.."
KEEP=0
DOWN=0
case "${1:-}" in
  --keep) KEEP=1 ;;
  --down) DOWN=1 ;;
  "") ;;
  -h | --help) sed -n '2,8p' "$0"; exit 0 ;;
  *) echo "usage: $0 [--keep | --down]" >&2; exit 2 ;;
esac

bash scripts/bootstrap.sh --runtime
export PATH="$PWD/.tools/node_modules/.bin:$PATH"
AGENT="$PWD/agent/bin/swanpair-agent.ts"
CHARON=${SWANPAIR_DEMO_CHARON:-/usr/sbin/charon-systemd}
LAB=/run/swanpair-demo
NS_A=swp-demo-a1
NS_B=swp-demo-b1

say() { echo "demo: $*"; }

teardown() {
  for pidfile in "$LAB"/*.pid; do
    if [ -f "$pidfile" ]; then kill "$(cat "$pidfile")" 2>/dev/null || true; fi
  done
  sleep 0.5
  ip netns del "$NS_A" 2>/dev/null || true
  ip netns del "$NS_B" 2>/dev/null || true
  rm -rf "$LAB"
}
teardown
[ "$DOWN" -eq 1 ] && { say "lab removed"; exit 0; }
if [ "$KEEP" -eq 0 ]; then trap teardown EXIT; fi

say "creating namespaces $NS_A and $NS_B joined by a veth pair (198.18.0.0/24)"
ip netns add "$NS_A"
ip netns add "$NS_B"
ip link add swpdemo0 netns "$NS_A" type veth peer name swpdemo1 netns "$NS_B"
for side in "$NS_A swpdemo0 198.18.0.1 10.1.0.10" "$NS_B swpdemo1 198.18.0.2 10.2.0.20"; do
  read -r ns dev outside inside <<<"$side"
  ip -n "$ns" link set lo up
  ip -n "$ns" addr add "$outside/24" dev "$dev"
  ip -n "$ns" link set "$dev" up
  ip -n "$ns" addr add "$inside/32" dev lo # an address "behind" the appliance
done

mkdir -p "$LAB"
mkdir -m 0700 "$LAB/psk"
# One key, generated here, in two 0600 files as each appliance would have its own copy.
(umask 077 && head -c 24 /dev/urandom | base64 | tr -d '/+=\n' >"$LAB/psk/shared")

write_config() { # name local remote localSubnet remoteSubnet probeSource probeTarget
  cat >"$LAB/$1.yaml" <<EOF
appliance: { name: $1, localAddress: $2 }
datapath: libipsec
charon: { mode: child, binary: $CHARON }
stateDir: $LAB/$1
api: { socket: $LAB/$1/agent.sock }
tunnels:
  - name: to-peer
    type: peer
    remoteAddress: $3
    psk: { file: $LAB/psk/shared }
    localSubnets: [$4]
    remoteSubnets: [$5]
    probe: { source: $6, target: $7, intervalMs: 200, fall: 3, rise: 2 }
EOF
}
write_config a1 198.18.0.1 198.18.0.2 10.1.0.0/16 10.2.0.0/16 10.1.0.10 10.2.0.20
write_config b1 198.18.0.2 198.18.0.1 10.2.0.0/16 10.1.0.0/16 10.2.0.20 10.1.0.10

for pair in "a1 $NS_A" "b1 $NS_B"; do
  read -r name ns <<<"$pair"
  say "starting swanpair-agent for $name in $ns (log: $LAB/$name.log)"
  ip netns exec "$ns" node "$AGENT" run --config "$LAB/$name.yaml" >"$LAB/$name.log" 2>&1 &
  echo $! >"$LAB/$name.pid"
done

say "waiting for the tunnel to come up on both sides"
# Gives up at once when an agent exits (its preflight names what is missing) or reports charon
# in a crash loop (with charon's own reason), instead of waiting out the 30 s.
fail_fast() { # name
  if ! kill -0 "$(cat "$LAB/$1.pid")" 2>/dev/null; then
    say "the agent for $1 exited; its log follows" >&2
    tail -n 20 "$LAB/$1.log" >&2
    exit 1
  fi
  if grep -q '"state": "crash-loop"' <<<"$2"; then
    say "charon keeps exiting on $1; its status follows" >&2
    node "$AGENT" status --socket "$LAB/$1/agent.sock" >&2 || true
    exit 1
  fi
}
deadline=$((SECONDS + 30))
while :; do
  up=0
  for name in a1 b1; do
    status=$(node "$AGENT" status --socket "$LAB/$name/agent.sock" --json 2>/dev/null || true)
    fail_fast "$name" "$status"
    grep -q '"state": "up"' <<<"$status" && up=$((up + 1))
  done
  [ "$up" -eq 2 ] && break
  if [ "$SECONDS" -ge "$deadline" ]; then
    say "the tunnel did not come up in 30 s; agent logs follow" >&2
    tail -n 20 "$LAB"/a1.log "$LAB"/b1.log >&2
    exit 1
  fi
  sleep 0.2
done

say "ping from 10.1.0.10 (behind a1) to 10.2.0.20 (behind b1), through ESP"
ip netns exec "$NS_A" ping -c 3 -i 0.2 -I 10.1.0.10 10.2.0.20
echo
say "swanpair-agent status (a1)"
node "$AGENT" status --socket "$LAB/a1/agent.sock"
echo
say "swanpair-agent status (b1)"
node "$AGENT" status --socket "$LAB/b1/agent.sock"

if [ "$KEEP" -eq 1 ]; then
  cat <<EOF

demo: the lab keeps running. Try:
  node $AGENT status --socket $LAB/a1/agent.sock --json
  ip netns exec $NS_A swanctl --list-sas --uri unix://$LAB/a1/charon.vici
  ip netns exec $NS_A ping -I 10.1.0.10 10.2.0.20
Remove it with: $0 --down
EOF
fi
