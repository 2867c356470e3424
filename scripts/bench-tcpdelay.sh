#!/usr/bin/env bash
# A restart over a network delay that TCP itself crosses. With one host:
# omni against plain ssh running the same work as one shell line (the
# script of scripts/bench-wan.sh, part (a)). With N hosts, all at once:
# omni --forks N against parallel-ssh -p N and ansible -f N (pipelining,
# ControlPersist, warmed up), bench-wan.sh's part (c). omni runs cold (a
# connection per host per run) and warm (persistent connections,
# OMNI_CONTROL_PERSIST=10m, left up by a warm-up run, as Ansible's
# masters are). With OMNI_BENCH_BASE, against another omni build too.
#
#   scripts/bench-tcpdelay.sh [RUNS] [N]  RUNS interleaved rounds (default 9)
#                                         of a restart of N hosts (default 1)
#
# Why a second harness beside bench-wan.sh: toxiproxy ends each TCP
# connection on loopback and acknowledges every segment at once, then
# delays the bytes. TCP's own waits over a real link (the three-way
# handshake, Nagle's algorithm holding a small segment until the previous
# one is acknowledged, delayed acknowledgements) cost nothing there. Here
# the host's sshd runs in a network namespace of its own, reached through
# two TUN devices that omni-tcpdelay (internal/testkit/tcpdelay) joins with
# a delay each way: the kernels of client and server talk TCP to each
# other across it, as over a WAN. (This machine's kernel has no netem.)
#
# Environment:
#   OMNI_TCPDELAY_MS    the delay each way, default 25 (a 50 ms round trip)
#   OMNI_BENCH_OMNI     the omni binary to measure (default: scripts/build.sh)
#   OMNI_BENCH_BASE     another omni binary, measured in the same rounds
#   OMNI_BENCH_HOLD=1   bring the hosts up, print the directory and a command
#                       to try, and wait for enter (or the end of the input)
#                       before taking them down: to time commands by hand
#
# Needs root (a network namespace, TUN devices), openssh-server and curl.
# Everything runs in a directory of its own under /tmp and in namespace
# omni-tcpd-PID (10.254.77.1 this side; host K is 10.254.77.(10+K) in the
# namespace, each with an sshd of its own); the exit trap stops what it
# started, by PID, and deletes both.
set -euo pipefail
runs=${1:-9}
n=${2:-1}
case $runs$n in '' | *[!0-9]*) echo "usage: $0 [RUNS] [N]" >&2; exit 2 ;; esac
[ "$runs" -ge 1 ] && [ "$n" -ge 1 ] && [ "$n" -le 200 ] || { echo "usage: $0 [RUNS] [N]: RUNS >= 1, 1 <= N <= 200" >&2; exit 2; }
delay=${OMNI_TCPDELAY_MS:-25}
case $delay in '' | *[!0-9]*) echo "$0: OMNI_TCPDELAY_MS must be a number of milliseconds" >&2; exit 2 ;; esac
[ "$(id -u)" = 0 ] || { echo "$0: needs root (ip netns, /dev/net/tun)" >&2; exit 1; }
root=$(cd "$(dirname "$0")/.." && pwd)

need=()
[ -x /usr/sbin/sshd ] || need+=(openssh-server)
command -v ssh >/dev/null || need+=(openssh-client)
command -v curl >/dev/null || need+=(curl)
command -v ip >/dev/null || need+=(iproute2)
if [ "$n" -gt 1 ]; then
  command -v parallel-ssh >/dev/null || need+=(pssh)
  command -v ansible >/dev/null || need+=(ansible)
  [ -x /usr/bin/python3 ] || need+=(python3)
fi
if [ ${#need[@]} -gt 0 ]; then
  echo "installing ${need[*]} ..." >&2
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >&2
fi

dir=$(mktemp -d /tmp/omni-bench-tcpdelay.XXXXXX)
ns=omni-tcpd-$$
tun_a=otd$$a tun_b=otd$$b
near=10.254.77.1
addr() { echo "10.254.77.$((10 + $1))"; }
delay_pid=
cleanup() {
  # Ansible's ControlPersist masters name the directory on their command
  # line; the sshds and the services have pidfiles.
  for pid in $(grep -laF "$dir/" /proc/[0-9]*/cmdline 2>/dev/null | cut -d/ -f3 || true); do
    [ "$pid" != $$ ] && kill "$pid" 2>/dev/null || true
  done
  for pidfile in "$dir"/run/*.pid "$dir"/host*/sshd.pid; do
    [ -f "$pidfile" ] || continue
    read -r pid <"$pidfile" 2>/dev/null || continue
    case $pid in '' | *[!0-9]*) continue ;; esac
    [ "$pid" -gt 1 ] && kill "$pid" 2>/dev/null || true
  done
  [ -n "$delay_pid" ] && kill "$delay_pid" 2>/dev/null || true
  ip netns del "$ns" 2>/dev/null || true
  rm -rf "$dir"
}
trap cleanup EXIT

cd "$dir"
mkdir run
if [ -n "${OMNI_BENCH_OMNI:-}" ]; then cp "$OMNI_BENCH_OMNI" omni; else "$root/scripts/build.sh" "$dir/omni" >/dev/null; fi
[ -z "${OMNI_BENCH_BASE:-}" ] || cp "$OMNI_BENCH_BASE" omni-base
(cd "$root" && CGO_ENABLED=0 go build -trimpath -o "$dir/omni-demo-svc" ./lab/demosvc/cmd/omni-demo-svc &&
  CGO_ENABLED=0 go build -trimpath -o "$dir/omni-tcpdelay" ./internal/testkit/tcpdelay/cmd/omni-tcpdelay)

# The link: tun_a here, tun_b in the namespace, $delay ms each way.
./omni-tcpdelay "$tun_a" "$tun_b" "${delay}ms" >delay.log 2>&1 &
delay_pid=$!
for _ in $(seq 50); do grep -q ready delay.log && break; sleep 0.1; done
grep -q ready delay.log || { echo "$0: omni-tcpdelay did not start: $(cat delay.log)" >&2; exit 1; }
ip netns add "$ns"
ip link set "$tun_b" netns "$ns"
ip addr add "$near" dev "$tun_a"
ip link set "$tun_a" up
ip route add 10.254.77.0/24 dev "$tun_a"
ip netns exec "$ns" ip link set lo up
ip netns exec "$ns" ip link set "$tun_b" up
ip netns exec "$ns" ip route add "$near/32" dev "$tun_b"
for k in $(seq "$n"); do ip netns exec "$ns" ip addr add "$(addr "$k")/32" dev "$tun_b"; done

# The hosts: a real sshd each in the namespace, the demo service under it.
user=$(id -un)
ssh-keygen -q -t ed25519 -N '' -C omni-tcpdelay -f client_key
cp client_key.pub authorized_keys
: >known_hosts
hosts_yaml= pssh_hosts= ini_hosts=
for k in $(seq "$n"); do
  a=$(addr "$k")
  mkdir "host$k"
  ssh-keygen -q -t ed25519 -N '' -C "host$k" -f "host$k/host_key"
  cat >"host$k/sshd_config" <<CONF
ListenAddress $a:22
HostKey $dir/host$k/host_key
PidFile $dir/host$k/sshd.pid
AuthorizedKeysFile $dir/authorized_keys
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
UsePAM no
StrictModes no
AllowTcpForwarding yes
PermitRootLogin yes
UseDNS no
LogLevel ERROR
MaxStartups 200:30:400
SetEnv SHLVL=1
CONF
  ip netns exec "$ns" /usr/sbin/sshd -f "$dir/host$k/sshd_config" -E "$dir/host$k/sshd.log"
  echo "$a $(cut -d' ' -f1,2 "host$k/host_key.pub")" >>known_hosts
  hosts_yaml+="  host$k: {address: $a, port: 22, roles: [worker], service_address: $a}"$'\n'
  pssh_hosts+="$a:22 $user"$'\n'
  ini_hosts+="host$k ansible_host=$a ansible_port=22"$'\n'
done
for k in $(seq "$n"); do
  for _ in $(seq 50); do [ -s "host$k/sshd.pid" ] && break; sleep 0.1; done
  [ -s "host$k/sshd.pid" ] || { echo "$0: sshd of host$k did not start: $(cat "host$k/sshd.log")" >&2; exit 1; }
done
cat >ssh_config <<CONF
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
CONF

# The service, as scripts/fleet-n.sh defines it.
svc_port=17501
start="setsid nohup $dir/omni-demo-svc --name \"\$OMNI_SERVICE\" --listen \"\$OMNI_ADDRESS:$svc_port\" --pidfile $dir/run/\"\$OMNI_ADDRESS.\$OMNI_SERVICE\".pid --log $dir/run/\"\$OMNI_ADDRESS.\$OMNI_SERVICE\".log --ready-after 0s --stop-delay 0s >/dev/null 2>&1 </dev/null & echo \$! > $dir/run/\"\$OMNI_ADDRESS.\$OMNI_SERVICE\".pid;"
status="cat $dir/run/\"\$OMNI_ADDRESS.\$OMNI_SERVICE\".pid"
cat >inventory.yaml <<INV
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
  worker: [demo]
services:
  demo:
    commands:
      start: '$(printf '%s' "$start" | sed "s/'/''/g")'
      status: '$(printf '%s' "$status" | sed "s/'/''/g")'
      logs: 'tail -n "\$OMNI_LINES" $dir/run/"\$OMNI_ADDRESS.\$OMNI_SERVICE".log'
    health:
      process: true
      port: $svc_port
      http: {port: $svc_port, path: /healthz, expect: 200}
      timeout: 5s
      retries: 30
      interval: 100ms
INV
./omni -i inventory.yaml service start worker demo --forks "$n" >start.log 2>&1 || { cat start.log >&2; exit 1; }

# The other tools: the same work as one shell line (bench-wan.sh's restart
# script), the host's address from \$SSH_CONNECTION (the address sshd
# accepted on), so that one command serves every host.
env_line="set -- \$SSH_CONNECTION; OMNI_ADDRESS=\$3 OMNI_HOST=host\$((\${3##*.} - 10)) OMNI_SERVICE=demo; export OMNI_HOST OMNI_SERVICE OMNI_ADDRESS; f=$dir/run/\"\$OMNI_ADDRESS.\$OMNI_SERVICE\""
url="http://\$OMNI_ADDRESS:$svc_port/healthz"
restart_script="$env_line; pid=\$(cat \"\$f.pid\") && kill -TERM \"\$pid\" || exit 1; while st=\$(ps -o stat= -p \"\$pid\") && [ \"\${st#Z}\" = \"\$st\" ]; do sleep 0.05; done; $start i=0; until curl -fsS -o /dev/null --max-time 1 \"$url\"; do i=\$((i+1)); [ \$i -lt 30 ] || exit 1; sleep 0.1; done; kill -0 \"\$(cat \"\$f.pid\")\" && echo \"\$OMNI_HOST \$OMNI_SERVICE restarted pid=\$(cat \"\$f.pid\") health=passed\""

if [ "$n" -gt 1 ]; then
  printf '%s' "$pssh_hosts" >pssh.hosts
  cat >hosts.ini <<INI
[worker]
${ini_hosts}
[worker:vars]
ansible_user=$user
ansible_ssh_private_key_file=$dir/client_key
ansible_ssh_common_args='-o UserKnownHostsFile=$dir/known_hosts -o StrictHostKeyChecking=yes -o BatchMode=yes'
ansible_python_interpreter=/usr/bin/python3
INI
  mkdir cp ansible-tmp
  cat >ansible.cfg <<CFG
[defaults]
inventory = $dir/hosts.ini
forks = $n
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
  export ANSIBLE_CONFIG=$dir/ansible.cfg ANSIBLE_NOCOLOR=1
  tools=(omni warm pssh ansible)
  what="a restart of $n hosts at once"
else
  tools=(omni warm ssh)
  what="one restart of one host"
fi
# omni warm: persistent connections (control_persist), their sockets in a
# directory of the run's own, left up by the warm-up run as Ansible's
# ControlPersist masters are.
mkdir -m 0700 xdg
[ -z "${OMNI_BENCH_BASE:-}" ] || tools+=(base)
fleet=(worker demo --yes --no-rolling --forks "$n")
[ "$n" -gt 1 ] || fleet=(host1 demo --yes)
cmd_for() {
  case $1 in
    omni) CMD=(./omni -i inventory.yaml service restart "${fleet[@]}") ;;
    base) CMD=(./omni-base -i inventory.yaml service restart "${fleet[@]}") ;;
    warm) CMD=(env XDG_RUNTIME_DIR="$dir/xdg" OMNI_CONTROL_PERSIST=10m ./omni -i inventory.yaml service restart "${fleet[@]}") ;;
    ssh) CMD=(ssh -F ssh_config "$(addr 1)" "$restart_script") ;;
    pssh) CMD=(parallel-ssh -h pssh.hosts -p "$n" -t 120 -i -x "-F $dir/ssh_config" "$restart_script") ;;
    ansible) CMD=(ansible worker -i hosts.ini -f "$n" -m shell -a "$restart_script") ;;
  esac
}
if [ "${OMNI_BENCH_HOLD:-}" = 1 ]; then
  cmd_for omni
  echo "hosts up in $dir; e.g. (cd $dir && ${CMD[*]} -v)"
  echo "press enter to take them down"
  read -r _ || true
  exit 0
fi
declare -A times
for tool in "${tools[@]}"; do # one warm-up each: page cache, the registry file, Ansible's masters
  cmd_for "$tool"
  "${CMD[@]}" >/dev/null 2>&1 || { echo "$0: $tool's warm-up failed: ${CMD[*]}" >&2; "${CMD[@]}" >&2 || true; exit 1; }
done
echo "$what, ${delay} ms each way (TCP end to end through omni-tcpdelay), $runs rounds"
for i in $(seq "$runs"); do
  for tool in "${tools[@]}"; do
    cmd_for "$tool"
    began=$(date +%s%N)
    "${CMD[@]}" >run.out 2>&1 || { echo "$0: $tool failed in round $i:" >&2; cat run.out >&2; exit 1; }
    times[$tool]+="$(( ($(date +%s%N) - began) / 1000000 )) "
  done
done
median() { tr ' ' '\n' | grep . | sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : int((a[NR/2] + a[NR/2+1]) / 2)}'; }
printf '%-8s %10s   %s\n' tool median "each run, ms"
for tool in "${tools[@]}"; do
  printf '%-8s %7s ms   %s\n' "$tool" "$(echo "${times[$tool]}" | median)" "${times[$tool]}"
done
for mine in omni warm; do
  m_mine=$(echo "${times[$mine]}" | median)
  for tool in "${tools[@]}"; do
    case $tool in omni | warm) continue ;; esac
    m=$(echo "${times[$tool]}" | median)
    awk -v a="$m_mine" -v b="$m" -v t="$tool" -v me="$mine" 'BEGIN {printf "%s / %s: %.3f\n", me, t, a / b}'
  done
done
