#!/usr/bin/env bash
# A throw-away loopback fleet for trying omni and for benchmarks, until
# `omni lab` exists: one real OpenSSH sshd per host on its own 127.0.0.x
# address (worker1 reached through primary-bastion), services that are real
# omni-demo-svc processes driven by the `command` manager, and an inventory
# with its own client key and known_hosts.
#
#   scripts/fleet.sh up DIR     build omni into DIR, start the fleet, write DIR/inventory.yaml
#   scripts/fleet.sh down DIR   stop every process the fleet started (by PID) and remove DIR
set -euo pipefail
cmd=${1:-}; dir=${2:-}
[ -n "$cmd" ] && [ -n "$dir" ] || { echo "usage: $0 up|down DIR" >&2; exit 2; }
root=$(cd "$(dirname "$0")/.." && pwd)
# How long the demo services take to become ready and to stop (like real ones).
ready_after=${OMNI_DEMO_READY_AFTER:-1s}
stop_delay=${OMNI_DEMO_STOP_DELAY:-500ms}

free_port() { # a free TCP port on address $1
  python3 -c 'import socket,sys; s=socket.socket(); s.bind((sys.argv[1],0)); print(s.getsockname()[1])' "$1"
}

start_sshd() { # name addr
  local name=$1 addr=$2 port
  port=$(free_port "$addr")
  mkdir -p "$dir/$name"
  ssh-keygen -q -t ed25519 -N '' -C "$name" -f "$dir/$name/host_key"
  cat > "$dir/$name/sshd_config" <<CONF
ListenAddress $addr:$port
HostKey $dir/$name/host_key
PidFile $dir/$name/sshd.pid
AuthorizedKeysFile $dir/authorized_keys
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
UsePAM no
StrictModes no
AllowTcpForwarding yes
PermitRootLogin yes
LogLevel ERROR
MaxSessions 100
MaxStartups 100:30:200
SetEnv SHLVL=1
CONF
  /usr/sbin/sshd -f "$dir/$name/sshd_config" -E "$dir/$name/sshd.log" ||
    { echo "$0: sshd of $name did not start: $(cat "$dir/$name/sshd.log")" >&2; exit 1; }
  echo "[$addr]:$port $(cut -d' ' -f1,2 "$dir/$name/host_key.pub")" >> "$dir/known_hosts"
  for _ in $(seq 50); do [ -s "$dir/$name/sshd.pid" ] && break; sleep 0.1; done
  echo "$port"
}

service() { # name port [flags]
  local name=$1 port=$2 flags=${3:-}
  local files="$dir/run/\"\$OMNI_HOST.\$OMNI_SERVICE\""
  cat <<SVC
  $name:
    commands:
      start: 'setsid nohup $dir/omni-demo-svc --name "\$OMNI_SERVICE" --listen "\$OMNI_ADDRESS:$port" --pidfile $files.pid --log $files.log --ready-after $ready_after --stop-delay $stop_delay $flags >/dev/null 2>&1 </dev/null &'
      status: 'cat $files.pid'
      logs: 'if [ "\$OMNI_FOLLOW" = 1 ]; then exec tail -n "\$OMNI_LINES" -f $files.log; else tail -n "\$OMNI_LINES" $files.log; fi'
    health:
      process: true
      port: $port
      http: {port: $port, path: /healthz, expect: 200}
      timeout: 1s
      retries: 30
      interval: 100ms
SVC
}

case $cmd in
up)
  mkdir -p "$dir/run"
  dir=$(cd "$dir" && pwd)
  (cd "$root" && CGO_ENABLED=0 go build -o "$dir/omni" . && CGO_ENABLED=0 go build -o "$dir/omni-demo-svc" ./lab/demosvc/cmd/omni-demo-svc)
  # sshd run as root needs its privilege separation directory, which lives on
  # a tmpfs: a machine that installed openssh-server without starting it (as
  # in a container) has none, and sshd exits at once.
  if [ "$(id -u)" = 0 ] && [ ! -d /run/sshd ]; then mkdir -p /run/sshd; fi
  ssh-keygen -q -t ed25519 -N '' -C omni-fleet -f "$dir/client_key"
  cp "$dir/client_key.pub" "$dir/authorized_keys"
  : > "$dir/known_hosts"
  bastion_port=$(start_sshd primary-bastion 127.0.0.61)
  worker_port=$(start_sshd worker1 127.0.0.62)
  cat > "$dir/inventory.yaml" <<INV
# A loopback fleet made by scripts/fleet.sh: real sshd, real service processes.
version: 1
defaults:
  user: $(id -un)
  identity_file: client_key
  known_hosts: known_hosts
  manager: command
  stop_grace: 10s
  start_timeout: 20s
registry:
  path: registry.db
hosts:
  primary-bastion: {address: 127.0.0.61, port: $bastion_port, roles: [bastion], service_address: 127.0.0.61}
  worker1: {address: 127.0.0.62, port: $worker_port, roles: [worker], via: primary-bastion, service_address: 127.0.0.62}
roles:
  all: [network-agent]
  bastion: [api-gateway]
  worker: [container-runtime]
services:
$(service network-agent 17401)
    critical: true
$(service api-gateway 17402)
    requires: [network-agent]
$(service container-runtime 17403)
    critical: true
    impact: This will affect all running containers on this host.
    requires: [network-agent]
INV
  echo "fleet up in $dir: omni -i $dir/inventory.yaml ..."
  ;;
down)
  [ -d "$dir" ] || exit 0
  for pidfile in "$dir"/run/*.pid "$dir"/*/sshd.pid; do
    [ -f "$pidfile" ] || continue
    pid=$(cat "$pidfile")
    case $pid in ''|*[!0-9]*) continue ;; esac
    [ "$pid" -gt 1 ] && kill "$pid" 2>/dev/null || true
  done
  sleep 0.7
  rm -rf "$dir"
  ;;
*) echo "usage: $0 up|down DIR" >&2; exit 2 ;;
esac
