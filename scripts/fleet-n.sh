#!/usr/bin/env bash
# A flat loopback fleet of N hosts for fleet-wide benchmarks: one real
# OpenSSH sshd per host on its own address 127.0.5.K (K = 1..N, no bastion:
# every host is reached directly), one omni-demo-svc service per host driven
# by the `command` manager, and the files three tools need to drive it:
#
#   DIR/inventory.yaml   omni: hosts host1..hostN, all in role `worker`, which runs `demo`
#   DIR/pssh.hosts       parallel-ssh: ADDR:PORT USER per line
#   DIR/hosts.ini        ansible inventory (group `worker`), DIR/ansible.cfg beside it
#   DIR/ssh_config       plain ssh and parallel-ssh (-F): the key, known_hosts verified, batch mode
#   DIR/status.script, DIR/restart.script   the same work as omni's, one shell line for any host
#   DIR/known_hosts      every host key; DIR/client_key the client key
#
#   scripts/fleet-n.sh up DIR [N]   build omni and the demo service into DIR, start N (default 50)
#                                   hosts and their services (running and healthy on return)
#   scripts/fleet-n.sh down DIR     stop every process the fleet started (by PID) and remove DIR
#
# Environment: OMNI_FLEET_LOGLEVEL (sshd LogLevel, default ERROR; VERBOSE logs
# each connection and session in DIR/hostK/sshd.log), OMNI_DEMO_READY_AFTER and
# OMNI_DEMO_STOP_DELAY (default 0s: the service starts and stops at once).
# The 127.0.5.0/24 range is this script's: nothing else is used.
# OMNI_FLEET_NETNS=NS runs the sshds and the services in network namespace
# NS (which the caller made, with the addresses), host K on
# ${OMNI_FLEET_ADDR_PREFIX}K (default prefix 127.0.5.): scripts/bench-tcpdelay.sh.
set -euo pipefail
cmd=${1:-}; dir=${2:-}; n=${3:-50}
usage() { echo "usage: $0 up DIR [N] | down DIR" >&2; exit 2; }
[ -n "$cmd" ] && [ -n "$dir" ] || usage
case $n in ''|*[!0-9]*) usage ;; esac
[ "$n" -ge 1 ] && [ "$n" -le 254 ] || { echo "$0: N must be 1..254" >&2; exit 2; }
root=$(cd "$(dirname "$0")/.." && pwd)
ready_after=${OMNI_DEMO_READY_AFTER:-0s}
stop_delay=${OMNI_DEMO_STOP_DELAY:-0s}
loglevel=${OMNI_FLEET_LOGLEVEL:-ERROR}
svc=demo
svc_port=17501
py=/usr/bin/python3; [ -x "$py" ] || py=python3
prefix=${OMNI_FLEET_ADDR_PREFIX:-127.0.5.}
in_ns=() # what runs on the hosts' side: in OMNI_FLEET_NETNS when set
[ -z "${OMNI_FLEET_NETNS:-}" ] || in_ns=(ip netns exec "$OMNI_FLEET_NETNS")

# The start and status commands of the demo service, as the inventory gives
# them (single-quoted there); the pssh/ansible scripts use the same text.
# Files are named after the host's address, so that a plain ssh script can
# find them from $SSH_CONNECTION alone.
# The start records the PID it launched (the service also writes it once
# it runs, and removes it on a clean exit), as a command-manager start
# should: the status read right after a start then names the new process.
start_cmd() {
  printf '%s' "setsid nohup $dir/omni-demo-svc --name \"\$OMNI_SERVICE\" --listen \"\$OMNI_ADDRESS:$svc_port\" --pidfile $dir/run/\"\$OMNI_ADDRESS.\$OMNI_SERVICE\".pid --log $dir/run/\"\$OMNI_ADDRESS.\$OMNI_SERVICE\".log --ready-after $ready_after --stop-delay $stop_delay >/dev/null 2>&1 </dev/null & echo \$! > $dir/run/\"\$OMNI_ADDRESS.\$OMNI_SERVICE\".pid;"
}
status_cmd() { printf '%s' "cat $dir/run/\"\$OMNI_ADDRESS.\$OMNI_SERVICE\".pid"; }

down() {
  [ -d "$dir" ] || return 0
  dir=$(cd "$dir" && pwd)
  # Only a directory that `up` made: everything below is matched on it.
  [ -f "$dir/.fleet-n" ] || { echo "$0: $dir was not made by $0 up; not touching it" >&2; return 1; }
  # Every process whose command line names DIR: the sshd listeners, the
  # services, and ansible's ControlPersist masters ("ssh: DIR/cp/... [mux]"),
  # which would otherwise keep their sessions open for 60 s. One grep over
  # /proc, then kill by PID; the pidfiles too, for a service that replaced
  # its command line.
  pids=$(grep -laF "$dir/" /proc/[0-9]*/cmdline 2>/dev/null | cut -d/ -f3 || true)
  for pidfile in "$dir"/run/*.pid "$dir"/host*/sshd.pid; do
    [ -f "$pidfile" ] || continue
    read -r pid < "$pidfile" 2>/dev/null || continue
    pids+=" $pid"
  done
  for pid in $pids; do
    case $pid in ''|*[!0-9]*) continue ;; esac
    [ "$pid" -gt 1 ] && [ "$pid" != $$ ] && kill "$pid" 2>/dev/null || true
  done
  # A service started while we looked (it had not written its pidfile yet).
  sleep 0.5
  for pid in $(grep -laF "$dir/" /proc/[0-9]*/cmdline 2>/dev/null | cut -d/ -f3 || true); do
    [ "$pid" != $$ ] && kill "$pid" 2>/dev/null || true
  done
  sleep 0.2
  rm -rf "$dir"
}

free_port() { # a free TCP port on address $1
  "${in_ns[@]}" "$py" -c 'import socket,sys; s=socket.socket(); s.bind((sys.argv[1],0)); print(s.getsockname()[1])' "$1"
}

case $cmd in
up)
  command -v /usr/sbin/sshd >/dev/null || { echo "$0: needs openssh-server (/usr/sbin/sshd)" >&2; exit 1; }
  mkdir -p "$dir/run" "$dir/cp" "$dir/ansible-tmp"
  dir=$(cd "$dir" && pwd)
  : > "$dir/.fleet-n"
  trap '[ $? -eq 0 ] || { echo "$0: up failed; taking the fleet down" >&2; down; }' EXIT
  "$root/scripts/build.sh" "$dir/omni"   # stamped with version and commit (-dirty: uncommitted changes)
  (cd "$root" && CGO_ENABLED=0 go build -trimpath -o "$dir/omni-demo-svc" ./lab/demosvc/cmd/omni-demo-svc)
  # sshd run as root needs its privilege separation directory, which lives on
  # a tmpfs: a machine that installed openssh-server without starting it (as
  # in a container) has none, and sshd exits at once.
  if [ "$(id -u)" = 0 ] && [ ! -d /run/sshd ]; then mkdir -p /run/sshd; fi
  ssh-keygen -q -t ed25519 -N '' -C omni-fleet-n -f "$dir/client_key"
  cp "$dir/client_key.pub" "$dir/authorized_keys"
  : > "$dir/known_hosts"
  user=$(id -un)
  hosts_yaml=; pssh_hosts=; ini_hosts=
  for k in $(seq "$n"); do
    name=host$k addr=$prefix$k
    port=$(free_port "$addr")
    mkdir -p "$dir/$name"
    ssh-keygen -q -t ed25519 -N '' -C "$name" -f "$dir/$name/host_key"
    # SHLVL=1: bash then does not source ~/.bashrc for ssh commands (it
    # does so only at shell level < 2), so the caller's shell setup (e.g.
    # pyenv) does not weigh on every session.
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
UseDNS no
LogLevel $loglevel
MaxSessions 100
MaxStartups 200:30:400
SetEnv SHLVL=1
CONF
    "${in_ns[@]}" /usr/sbin/sshd -f "$dir/$name/sshd_config" -E "$dir/$name/sshd.log" ||
      { echo "$0: sshd of $name did not start: $(cat "$dir/$name/sshd.log")" >&2; exit 1; }
    echo "[$addr]:$port $(cut -d' ' -f1,2 "$dir/$name/host_key.pub")" >> "$dir/known_hosts"
    hosts_yaml+="  $name: {address: $addr, port: $port, roles: [worker], service_address: $addr}"$'\n'
    pssh_hosts+="$addr:$port $user"$'\n'
    ini_hosts+="$name ansible_host=$addr ansible_port=$port"$'\n'
  done
  for k in $(seq "$n"); do
    for _ in $(seq 50); do [ -s "$dir/host$k/sshd.pid" ] && break; sleep 0.1; done
    [ -s "$dir/host$k/sshd.pid" ] || { echo "$0: sshd of host$k did not start: $(cat "$dir/host$k/sshd.log")" >&2; exit 1; }
  done
  q_start=$(start_cmd | sed "s/'/''/g"); q_status=$(status_cmd | sed "s/'/''/g")
  cat > "$dir/inventory.yaml" <<INV
# A flat loopback fleet made by scripts/fleet-n.sh: real sshd, real service processes.
version: 1
defaults:
  user: $user
  identity_file: client_key
  known_hosts: known_hosts
  manager: command
  stop_grace: 10s
  start_timeout: 20s
registry:
  path: registry.db
hosts:
${hosts_yaml}roles:
  worker: [$svc]
services:
  $svc:
    commands:
      start: '$q_start'
      status: '$q_status'
      logs: 'tail -n "\$OMNI_LINES" $dir/run/"\$OMNI_ADDRESS.\$OMNI_SERVICE".log'
    health:
      process: true
      port: $svc_port
      http: {port: $svc_port, path: /healthz, expect: 200}
      timeout: 5s     # per attempt; generous, so a loaded machine does not fail a check
      retries: 30
      interval: 100ms
INV
  printf '%s' "$pssh_hosts" > "$dir/pssh.hosts"
  cat > "$dir/hosts.ini" <<INI
[worker]
${ini_hosts}
[worker:vars]
ansible_user=$user
ansible_ssh_private_key_file=$dir/client_key
ansible_ssh_common_args='-o UserKnownHostsFile=$dir/known_hosts -o StrictHostKeyChecking=yes -o BatchMode=yes'
ansible_python_interpreter=/usr/bin/python3
INI
  cat > "$dir/ansible.cfg" <<CFG
[defaults]
inventory = $dir/hosts.ini
forks = 50
host_key_checking = True
gathering = explicit
retry_files_enabled = False
local_tmp = $dir/ansible-tmp
remote_tmp = $dir/ansible-tmp/remote
interpreter_python = /usr/bin/python3
deprecation_warnings = False

[ssh_connection]
pipelining = True
ssh_args = -o ControlMaster=auto -o ControlPersist=60s
control_path = $dir/cp/%%h-%%p-%%r
CFG
  # plain ssh, ssh -J and parallel-ssh: one config file (ssh passes -F on
  # to the ssh it starts for -J, so a jump host is verified the same way).
  cat > "$dir/ssh_config" <<CFG
Host *
  User $user
  IdentityFile $dir/client_key
  IdentitiesOnly yes
  UserKnownHostsFile $dir/known_hosts
  StrictHostKeyChecking yes
  BatchMode yes
  ControlMaster no
  ControlPath none
  LogLevel ERROR
CFG
  # The same work as omni's, as one shell line per host, for plain ssh,
  # parallel-ssh and Ansible: DIR/status.script and DIR/restart.script. The
  # host's address comes from $SSH_CONNECTION (its third field: the
  # address sshd accepted on, the same through a proxy or a jump), so one
  # command serves every host, as it must for parallel-ssh. The start
  # ends with `;` (after recording the PID it launched).
  env_line="set -- \$SSH_CONNECTION; OMNI_ADDRESS=\$3 OMNI_HOST=host\${3##*.} OMNI_SERVICE=$svc; export OMNI_HOST OMNI_SERVICE OMNI_ADDRESS; f=$dir/run/\"\$OMNI_ADDRESS.\$OMNI_SERVICE\""
  url="http://\$OMNI_ADDRESS:$svc_port/healthz"
  printf '%s\n' "$env_line; pid=\$(cat \"\$f.pid\") && kill -0 \"\$pid\" && set -- \$(ps -o etimes=,stat= -p \"\$pid\") && curl -fsS -o /dev/null --max-time 1 \"$url\" && echo \"\$OMNI_HOST \$OMNI_SERVICE running pid=\$pid up=\${1}s stat=\${2} health=passed\"" > "$dir/status.script"
  printf '%s\n' "$env_line; pid=\$(cat \"\$f.pid\") && kill -TERM \"\$pid\" || exit 1; while st=\$(ps -o stat= -p \"\$pid\") && [ \"\${st#Z}\" = \"\$st\" ]; do sleep 0.05; done; $(start_cmd) i=0; until curl -fsS -o /dev/null --max-time 1 \"$url\"; do i=\$((i+1)); [ \$i -lt 30 ] || exit 1; sleep 0.1; done; kill -0 \"\$(cat \"\$f.pid\")\" && echo \"\$OMNI_HOST \$OMNI_SERVICE restarted pid=\$(cat \"\$f.pid\") health=passed\"" > "$dir/restart.script"
  # Start every service (directly: the hosts are this machine), then wait
  # until each answers its health check. The port must be free first, or
  # another fleet's service would answer for ours.
  "${in_ns[@]}" "$py" - "$n" "$svc_port" "$prefix" <<'PY' || exit 1
import socket, sys
n, port, prefix = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
for k in range(1, n + 1):
    s = socket.socket()
    # As the service does (Go sets it): connections of a fleet just taken
    # down may linger in TIME_WAIT; only a listener makes the port busy.
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        s.bind(("%s%d" % (prefix, k), port))
    except OSError as e:
        sys.exit("%s%d:%d is in use (%s): is another fleet-n.sh fleet up?" % (prefix, k, port, e))
    finally:
        s.close()
PY
  for k in $(seq "$n"); do
    "${in_ns[@]}" env OMNI_HOST="host$k" OMNI_SERVICE="$svc" OMNI_ADDRESS="$prefix$k" sh -c "$(start_cmd)"
  done
  for k in $(seq "$n"); do
    ok=
    for _ in $(seq 100); do
      if "${in_ns[@]}" curl -fsS -o /dev/null --max-time 1 "http://$prefix$k:$svc_port/healthz" 2>/dev/null; then ok=1; break; fi
      sleep 0.1
    done
    [ -n "$ok" ] && [ -s "$dir/run/$prefix$k.$svc.pid" ] || { echo "$0: service on host$k ($prefix$k:$svc_port) did not become healthy" >&2; exit 1; }
  done
  echo "fleet of $n hosts up in $dir: omni -i $dir/inventory.yaml service status worker $svc"
  ;;
down) down ;;
*) usage ;;
esac
