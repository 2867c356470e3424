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
# The hosts are scripts/fleet-n.sh's, in namespace omni-tcpd-PID: host K is
# 10.254.77.K there, 10.254.77.254 this side of the link. Everything runs
# in a directory of its own under /tmp; the exit trap takes the fleet down
# (fleet-n.sh down: by PID) and deletes the link and the namespace.
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

work=$(mktemp -d /tmp/omni-bench-tcpdelay.XXXXXX)
dir=$work/fleet # scripts/fleet-n.sh's
ns=omni-tcpd-$$
tun_a=otd$$a tun_b=otd$$b
prefix=10.254.77. near=10.254.77.254 # host K is ${prefix}K, K <= 200
delay_pid=
cleanup() {
  "$root/scripts/fleet-n.sh" down "$dir" >/dev/null 2>&1 || true
  [ -n "$delay_pid" ] && kill "$delay_pid" 2>/dev/null || true
  ip netns del "$ns" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# The link: tun_a here, tun_b in the namespace, $delay ms each way.
(cd "$root" && CGO_ENABLED=0 go build -trimpath -o "$work/omni-tcpdelay" ./internal/testkit/tcpdelay/cmd/omni-tcpdelay)
"$work/omni-tcpdelay" "$tun_a" "$tun_b" "${delay}ms" >"$work/delay.log" 2>&1 &
delay_pid=$!
for _ in $(seq 50); do grep -q ready "$work/delay.log" && break; sleep 0.1; done
grep -q ready "$work/delay.log" || { echo "$0: omni-tcpdelay did not start: $(cat "$work/delay.log")" >&2; exit 1; }
ip netns add "$ns"
ip link set "$tun_b" netns "$ns"
ip addr add "$near" dev "$tun_a"
ip link set "$tun_a" up
ip route add "${prefix}0/24" dev "$tun_a"
ip netns exec "$ns" ip link set lo up
ip netns exec "$ns" ip link set "$tun_b" up
ip netns exec "$ns" ip route add "$near/32" dev "$tun_b"
for k in $(seq "$n"); do ip netns exec "$ns" ip addr add "$prefix$k/32" dev "$tun_b"; done

# The hosts: scripts/fleet-n.sh's, in the namespace (a real sshd and the
# demo service each), with its inventory and the other tools' files.
OMNI_FLEET_NETNS=$ns OMNI_FLEET_ADDR_PREFIX=$prefix "$root/scripts/fleet-n.sh" up "$dir" "$n" >/dev/null
cd "$dir"
[ -z "${OMNI_BENCH_OMNI:-}" ] || cp "$OMNI_BENCH_OMNI" omni
[ -z "${OMNI_BENCH_BASE:-}" ] || cp "$OMNI_BENCH_BASE" omni-base
restart_script=$(cat restart.script)
read -r first _ <pssh.hosts # ADDR:PORT USER of host1
export ANSIBLE_CONFIG=$dir/ansible.cfg ANSIBLE_NOCOLOR=1
if [ "$n" -gt 1 ]; then
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
    ssh) CMD=(ssh -F ssh_config -p "${first##*:}" "${first%:*}" "$restart_script") ;;
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
