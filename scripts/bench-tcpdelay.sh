#!/usr/bin/env bash
# One restart of one host over a network delay that TCP itself crosses:
# omni against plain ssh running the same work as one shell line (the
# script of scripts/bench-wan.sh, part (a)), and, with OMNI_BENCH_BASE,
# against another omni build.
#
#   scripts/bench-tcpdelay.sh [RUNS]      RUNS interleaved rounds, default 9
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
#
# Needs root (a network namespace, TUN devices), openssh-server and curl.
# Everything runs in a directory of its own under /tmp and in namespace
# omni-tcpd-PID (addresses 10.254.77.1 and .2, a point-to-point link of its
# own); the exit trap stops what it started, by PID, and deletes both.
set -euo pipefail
runs=${1:-9}
case $runs in '' | *[!0-9]*) echo "usage: $0 [RUNS]" >&2; exit 2 ;; esac
delay=${OMNI_TCPDELAY_MS:-25}
case $delay in '' | *[!0-9]*) echo "$0: OMNI_TCPDELAY_MS must be a number of milliseconds" >&2; exit 2 ;; esac
[ "$(id -u)" = 0 ] || { echo "$0: needs root (ip netns, /dev/net/tun)" >&2; exit 1; }
root=$(cd "$(dirname "$0")/.." && pwd)

need=()
[ -x /usr/sbin/sshd ] || need+=(openssh-server)
command -v ssh >/dev/null || need+=(openssh-client)
command -v curl >/dev/null || need+=(curl)
command -v ip >/dev/null || need+=(iproute2)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing ${need[*]} ..." >&2
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >&2
fi

dir=$(mktemp -d /tmp/omni-bench-tcpdelay.XXXXXX)
ns=omni-tcpd-$$
tun_a=otd$$a tun_b=otd$$b
near=10.254.77.1 far=10.254.77.2
delay_pid=
cleanup() {
  for pidfile in "$dir"/run/*.pid "$dir/sshd.pid"; do
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
ip addr add "$near" peer "$far" dev "$tun_a"
ip link set "$tun_a" up
ip netns exec "$ns" ip link set lo up
ip netns exec "$ns" ip addr add "$far" peer "$near" dev "$tun_b"
ip netns exec "$ns" ip link set "$tun_b" up

# The host: a real sshd in the namespace, the demo service under it.
user=$(id -un)
ssh-keygen -q -t ed25519 -N '' -C omni-tcpdelay -f client_key
cp client_key.pub authorized_keys
ssh-keygen -q -t ed25519 -N '' -C far -f host_key
cat >sshd_config <<CONF
ListenAddress $far:22
HostKey $dir/host_key
PidFile $dir/sshd.pid
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
SetEnv SHLVL=1
CONF
ip netns exec "$ns" /usr/sbin/sshd -f "$dir/sshd_config" -E "$dir/sshd.log"
for _ in $(seq 50); do [ -s sshd.pid ] && break; sleep 0.1; done
[ -s sshd.pid ] || { echo "$0: sshd did not start: $(cat sshd.log)" >&2; exit 1; }
echo "$far $(cut -d' ' -f1,2 host_key.pub)" >known_hosts
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
  far: {address: $far, port: 22, roles: [worker], service_address: $far}
roles:
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
./omni -i inventory.yaml service start far demo >start.log 2>&1 || { cat start.log >&2; exit 1; }

# plain ssh: the same work as one shell line (bench-wan.sh's restart script).
env_line="OMNI_ADDRESS=$far OMNI_HOST=far OMNI_SERVICE=demo; export OMNI_HOST OMNI_SERVICE OMNI_ADDRESS; f=$dir/run/\"\$OMNI_ADDRESS.\$OMNI_SERVICE\""
url="http://\$OMNI_ADDRESS:$svc_port/healthz"
restart_script="$env_line; pid=\$(cat \"\$f.pid\") && kill -TERM \"\$pid\" || exit 1; while st=\$(ps -o stat= -p \"\$pid\") && [ \"\${st#Z}\" = \"\$st\" ]; do sleep 0.05; done; $start i=0; until curl -fsS -o /dev/null --max-time 1 \"$url\"; do i=\$((i+1)); [ \$i -lt 30 ] || exit 1; sleep 0.1; done; kill -0 \"\$(cat \"\$f.pid\")\" && echo \"\$OMNI_HOST \$OMNI_SERVICE restarted pid=\$(cat \"\$f.pid\") health=passed\""

tools=(omni ssh)
[ -z "${OMNI_BENCH_BASE:-}" ] || tools+=(base)
cmd_for() {
  case $1 in
    omni) CMD=(./omni -i inventory.yaml service restart far demo --yes) ;;
    base) CMD=(./omni-base -i inventory.yaml service restart far demo --yes) ;;
    ssh) CMD=(ssh -F ssh_config "$far" "$restart_script") ;;
  esac
}
declare -A times
for tool in "${tools[@]}"; do # one warm-up each: page cache, the registry file
  cmd_for "$tool"
  "${CMD[@]}" >/dev/null 2>&1 || { echo "$0: $tool's warm-up failed: ${CMD[*]}" >&2; "${CMD[@]}" >&2 || true; exit 1; }
done
echo "one restart of one host, ${delay} ms each way (TCP end to end through omni-tcpdelay), $runs rounds"
for i in $(seq "$runs"); do
  for tool in "${tools[@]}"; do
    cmd_for "$tool"
    began=$(date +%s%N)
    "${CMD[@]}" >run.out 2>&1 || { echo "$0: $tool failed in round $i:" >&2; cat run.out >&2; exit 1; }
    times[$tool]+="$(( ($(date +%s%N) - began) / 1000000 )) "
  done
done
median() { tr ' ' '\n' | grep . | sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : int((a[NR/2] + a[NR/2+1]) / 2)}'; }
printf '%-6s %10s   %s\n' tool median "each run, ms"
for tool in "${tools[@]}"; do
  printf '%-6s %7s ms   %s\n' "$tool" "$(echo "${times[$tool]}" | median)" "${times[$tool]}"
done
m_omni=$(echo "${times[omni]}" | median)
for tool in "${tools[@]:1}"; do
  m=$(echo "${times[$tool]}" | median)
  awk -v a="$m_omni" -v b="$m" -v t="$tool" 'BEGIN {printf "omni / %s: %.3f\n", t, a / b}'
done
