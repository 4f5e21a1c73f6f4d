#!/usr/bin/env bash
# Starts a Docker daemon that stays out of the way of the network-namespace tests
# (docs/decisions/0010-dockerd-beside-namespace-tests.md), or uses the one running.
#   scripts/dockerd.sh start   a daemon answers afterwards; one this script started is recorded
#   scripts/dockerd.sh stop    stops the daemon "start" started, and nothing else
# Root only. Bridge and address pool in 198.19.240.0/20, away from the machine's uplink,
# DNS and mirror addresses and from the labs' 198.18.0.0/16.
set -euo pipefail
STATE=/run/swanpair-dockerd
BIP=198.19.240.1/24
POOL=198.19.248.0/21

say() { echo "dockerd: $*" >&2; }

# What dockerd could change that namespace tests care about.
net_state() {
  local policy
  policy=$(iptables -S FORWARD 2>/dev/null | awk '$1 == "-P" { print $3 }')
  echo "FORWARD policy ${policy:-unknown}, ip_forward $(cat /proc/sys/net/ipv4/ip_forward)," \
    "bridge-nf-call-iptables $(cat /proc/sys/net/bridge/bridge-nf-call-iptables 2>/dev/null || echo absent)"
}

ours() { # the pid recorded by "start", if that process is still a dockerd
  local pid
  pid=$(cat "$STATE/pid" 2>/dev/null) || return 1
  [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = dockerd ] && echo "$pid"
}

start() {
  if docker info >/dev/null 2>&1; then
    say "using the daemon already running ($(net_state))"
    return 0
  fi
  local before after pid
  before=$(net_state)
  mkdir -p "$STATE"
  # dockerd leaves its bridge behind when it stops; remove it then if it is ours.
  ip link show docker0 >/dev/null 2>&1 || touch "$STATE/bridge"
  # --iptables=false: no FORWARD DROP policy, no DOCKER chains, no NAT; --ip-forward=false:
  # the ip_forward sysctl stays as it is. Containers that need the network use --network host.
  setsid dockerd \
    --iptables=false --ip6tables=false --ip-forward=false --ip-masq=false \
    --bip="$BIP" --default-address-pool "base=$POOL,size=24" \
    >"$STATE/log" 2>&1 </dev/null &
  pid=$!
  echo "$pid" >"$STATE/pid"
  for _ in $(seq 1 60); do
    docker info >/dev/null 2>&1 && break
    if ! kill -0 "$pid" 2>/dev/null; then break; fi
    sleep 0.5
  done
  if ! docker info >/dev/null 2>&1; then
    say "dockerd did not come up; its log follows"
    tail -n 30 "$STATE/log" >&2
    stop
    return 1
  fi
  after=$(net_state)
  say "started (pid $pid, log $STATE/log)"
  say "before: $before"
  say "after:  $after"
  if [ "$before" != "$after" ]; then say "warning: the host's forwarding settings changed"; fi
}

stop() {
  [ -d "$STATE" ] || return 0
  local pid
  if pid=$(ours); then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 40); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.5
    done
    if kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid" 2>/dev/null || true; fi
    say "stopped (pid $pid)"
  fi
  if [ -e "$STATE/bridge" ] && ! docker info >/dev/null 2>&1; then
    ip link del docker0 2>/dev/null || true
  fi
  rm -rf "$STATE"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
