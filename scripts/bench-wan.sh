#!/usr/bin/env bash
# Benchmark over a real network delay: omni against plain ssh, `ssh -J`,
# parallel-ssh and Ansible, with every SSH connection passing through
# Shopify's toxiproxy and its latency toxic (25 ms upstream and 25 ms
# downstream: a 50 ms round trip).
#
# The hosts are the flat loopback fleet of scripts/fleet-n.sh: N+1 real
# OpenSSH sshd hosts on 127.0.5.1 … 127.0.5.N+1, one omni-demo-svc service
# (command manager; process, port and HTTP health checks) on each. One
# toxiproxy server (built from the Go module proxy into the fleet's temp dir,
# never into the repo) puts a proxy of its own in front of each sshd, on the
# same address and another port; the tools reach the hosts only through the
# proxies. Health checks go through the SSH connection, so they are delayed
# too. toxiproxy does not delay the TCP handshake itself, so each fresh
# connection is one round trip cheaper here than on a real WAN.
#
#   (a) one restart of host1's service: omni, plain ssh running the
#       stop / wait-until-gone / start / health script of bench-fleet.sh, and
#       Ansible ad-hoc (`-m shell`, pipelining, ControlPersist, warmed up);
#       the same for omni and plain ssh without the proxy, for reference
#   (b) one restart of host1's service through a bastion (host N+1), both
#       hops delayed: omni (`via:` in the inventory) against `ssh -J`
#   (c) status and restart of the N hosts (default 20) at once, each behind
#       its own delayed proxy: omni --forks N, parallel-ssh -p N, ansible -f N
#
# omni runs cold (a fresh connection every run, its default) and, as an
# extra column ("omni warm"), with OMNI_CONTROL_PERSIST=10m: its warm-up run
# leaves a persistent connection (a master) per host, as Ansible's warm-up
# leaves its ControlPersist masters, and the timed runs go through them
# (no TCP connect, key exchange or login). Cold omni stays the headline.
#
# Warm-up first (each command once, not counted; Ansible's ControlPersist
# masters are up after it). Then RUNS interleaved rounds per part (omni,
# other, other, omni, …), medians of the wall times. Prints every run, how
# busy the whole machine was during the restarts (its CPU time, from
# /proc/stat, against the wall time × the cores: the hosts share the
# machine with the tools, so a run can be bound by its CPU rather than by
# the link), and the table: work | omni | other | ratio (omni / other).
#
#   scripts/bench-wan.sh [RUNS] [N]      (defaults 7 and 20)
#
# OMNI_BENCH_PERF=1 adds one more status and one more restart of the N
# hosts per tool, not timed, under `perf record -a` (Debian's linux-perf, installed when
# missing): where the machine's CPU went, by program, and how much of it
# went to the hosts' side that no tool's code runs: sshd (logins, sessions,
# channels; Ansible's warm masters log in before the run), the services,
# toxiproxy, and the inventory's own start and status commands. Spread
# over every core, that share alone is a floor under the run's wall time.
#
# Environment: OMNI_BENCH_VERBOSE=1 prints each warm-up's output;
# OMNI_BENCH_HOLD=1 brings everything up, prints the directory and waits for
# enter (or end of input) before it tears down, to time commands by hand;
# OMNI_WAN_LATENCY_MS (default 25, each way),
# OMNI_WAN_TOXIPROXY_VERSION (default v2.5.0), OMNI_BENCH_RUN_TIMEOUT (default
# 120 s: a run that takes longer is killed and counts as failed).
# With the defaults the script takes about 3 to 4 minutes on a 2-core machine.
# Installs pssh, ansible, openssh-server/client and curl when missing (as root,
# or with passwordless sudo). Everything listens on 127.0.0.0/8; on exit it
# stops only the processes it started (fleet-n.sh down, and toxiproxy by PID).
set -euo pipefail
runs=${1:-7}
n=${2:-20}
case $runs$n in *[!0-9]*) echo "usage: $0 [RUNS] [N]" >&2; exit 2 ;; esac
[ "$runs" -ge 1 ] && [ "$n" -ge 1 ] && [ "$n" -le 200 ] || { echo "usage: $0 [RUNS] [N]: RUNS >= 1, 1 <= N <= 200" >&2; exit 2; }
latency=${OMNI_WAN_LATENCY_MS:-25}
tp_version=${OMNI_WAN_TOXIPROXY_VERSION:-v2.5.0}
run_timeout=${OMNI_BENCH_RUN_TIMEOUT:-120}
root=$(cd "$(dirname "$0")/.." && pwd)
svc=demo
bastion=$((n + 1))

# --- the peers and tools --------------------------------------------------
need=()
command -v parallel-ssh >/dev/null || need+=(pssh)
command -v ansible >/dev/null || need+=(ansible)
[ -x /usr/sbin/sshd ] || need+=(openssh-server)
command -v ssh >/dev/null || need+=(openssh-client)
command -v curl >/dev/null || need+=(curl)
[ -x /usr/bin/python3 ] || need+=(python3)
[ -z "${OMNI_BENCH_PERF:-}" ] || command -v perf >/dev/null || need+=(linux-perf)
if [ ${#need[@]} -gt 0 ]; then
  sudo=; [ "$(id -u)" = 0 ] || sudo="sudo -n"
  echo "installing ${need[*]} ..." >&2
  $sudo apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" >&2 ||
    echo "WARNING: could not install all of ${need[*]}; the tools that are missing are left out" >&2
fi
have_pssh=; command -v parallel-ssh >/dev/null && have_pssh=1
have_ansible=; command -v ansible >/dev/null && have_ansible=1
py=/usr/bin/python3; [ -x "$py" ] || py=python3

# --- the fleet and the proxies ----------------------------------------------
dir=$(mktemp -d /tmp/omni-bench-wan.XXXXXX)
tp_pid= running=
cleanup() {
  # the run in progress (timeout passes the signal on to the command), then toxiproxy
  if [ -n "$running" ]; then kill "$running" 2>/dev/null || true; wait "$running" 2>/dev/null || true; fi
  # omni's masters (warm runs), by the PIDs in their lock files
  for lock in "$dir"/xdg/omni/*.lock; do
    [ -f "$lock" ] || continue
    pid=$(cat "$lock" 2>/dev/null || true)
    case $pid in ''|*[!0-9]*) continue ;; esac
    grep -qa __omni-control-master "/proc/$pid/cmdline" 2>/dev/null && kill "$pid" 2>/dev/null || true
  done
  if [ -n "$tp_pid" ]; then kill "$tp_pid" 2>/dev/null || true; fi
  "$root/scripts/fleet-n.sh" down "$dir" || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM
load0=$(cut -d' ' -f1-3 /proc/loadavg)
echo "bringing up $((n + 1)) hosts on 127.0.5.1-127.0.5.$bastion in $dir ..." >&2
"$root/scripts/fleet-n.sh" up "$dir" "$bastion" >/dev/null
cd "$dir"

echo "building toxiproxy $tp_version (github.com/Shopify/toxiproxy/v2/cmd/server) ..." >&2
(cd "$dir" && GOFLAGS=-buildvcs=false GOBIN="$dir/bin" go install "github.com/Shopify/toxiproxy/v2/cmd/server@$tp_version") >&2
mv "$dir/bin/server" "$dir/bin/toxiproxy-server"

free_port() { "$py" -c 'import socket,sys; s=socket.socket(); s.bind((sys.argv[1],0)); print(s.getsockname()[1])' "$1"; }
# host K's sshd port, from fleet-n's inventory
ssh_port() { sed -n "s/^  host$1: {address: 127\.0\.5\.$1, port: \([0-9]*\),.*/\1/p" inventory.yaml; }
declare -A pport
cfg="["
for k in $(seq "$bastion"); do
  pport[$k]=$(free_port "127.0.5.$k")
  cfg+="{\"name\":\"host$k\",\"listen\":\"127.0.5.$k:${pport[$k]}\",\"upstream\":\"127.0.5.$k:$(ssh_port "$k")\",\"enabled\":true},"
done
printf '%s]\n' "${cfg%,}" > toxiproxy.json
api_port=$(free_port 127.0.0.1)
api=http://127.0.0.1:$api_port
"$dir/bin/toxiproxy-server" -host 127.0.0.1 -port "$api_port" -config toxiproxy.json > toxiproxy.log 2>&1 &
tp_pid=$!
for _ in $(seq 100); do curl -fsS -o /dev/null "$api/version" 2>/dev/null && break; sleep 0.1; done
curl -fsS -o /dev/null "$api/version" || { echo "toxiproxy did not start: $(cat toxiproxy.log)" >&2; exit 1; }
for k in $(seq "$bastion"); do
  for stream in upstream downstream; do
    curl -fsS -o /dev/null -X POST "$api/proxies/host$k/toxics" -H 'Content-Type: application/json' \
      -d "{\"name\":\"latency_$stream\",\"type\":\"latency\",\"stream\":\"$stream\",\"toxicity\":1.0,\"attributes\":{\"latency\":$latency,\"jitter\":0}}"
  done
done
echo "toxiproxy up (pid $tp_pid, API $api): $bastion proxies, latency ${latency} ms each way" >&2

# Host keys for the proxies' addresses: the same keys, other ports.
for k in $(seq "$bastion"); do
  echo "[127.0.5.$k]:${pport[$k]} $(cut -d' ' -f1,2 "host$k/host_key.pub")" >> known_hosts
done
user=$(id -un)

# omni: the N hosts through their proxies (wan.yaml); host1 through the
# bastion (bastion.yaml); fleet-n's inventory.yaml reaches them directly.
{
  sed -n '1,/^hosts:/p' inventory.yaml | sed 's/^  path: registry.db/  path: registry-wan.db/'
  for k in $(seq "$n"); do
    echo "  host$k: {address: 127.0.5.$k, port: ${pport[$k]}, roles: [worker], service_address: 127.0.5.$k}"
  done
  sed -n '/^roles:/,$p' inventory.yaml
} > wan.yaml
{
  sed -n '1,/^hosts:/p' inventory.yaml | sed 's/^  path: registry.db/  path: registry-bastion.db/'
  echo "  jump: {address: 127.0.5.$bastion, port: ${pport[$bastion]}, roles: [bastion], service_address: 127.0.5.$bastion}"
  echo "  behind: {address: 127.0.5.1, port: ${pport[1]}, roles: [worker], via: jump, service_address: 127.0.5.1}"
  sed -n '/^roles:/,$p' inventory.yaml | sed 's/^roles:/roles:\n  bastion: []/'
} > bastion.yaml
# plain ssh, ssh -J and parallel-ssh: fleet-n.sh's ssh_config.
for k in $(seq "$n"); do echo "127.0.5.$k:${pport[$k]} $user"; done > wan-pssh.hosts
{
  echo "[worker]"
  for k in $(seq "$n"); do echo "host$k ansible_host=127.0.5.$k ansible_port=${pport[$k]}"; done
  echo
  sed -n '/^\[worker:vars\]/,$p' hosts.ini
} > wan-hosts.ini
export ANSIBLE_CONFIG=$dir/ansible.cfg ANSIBLE_NOCOLOR=1

# The same work as omni, as one shell line per host: fleet-n.sh's scripts.
status_script=$(cat status.script)
restart_script=$(cat restart.script)

# omni warm: persistent connections, their sockets in a directory of the run's own.
mkdir -m 0700 "$dir/xdg"
warm=(env XDG_RUNTIME_DIR="$dir/xdg" OMNI_CONTROL_PERSIST=10m ./omni)

# The commands, by key.
cmd_for() { # key -> sets the array CMD
  case $1 in
    a/omni)     CMD=(./omni -i wan.yaml service restart host1 "$svc") ;;
    a/warm)     CMD=("${warm[@]}" -i wan.yaml service restart host1 "$svc") ;;
    b/warm)     CMD=("${warm[@]}" -i bastion.yaml service restart behind "$svc") ;;
    cs/warm)    CMD=("${warm[@]}" -i wan.yaml service status worker "$svc" --forks "$n") ;;
    cr/warm)    CMD=("${warm[@]}" -i wan.yaml service restart worker "$svc" --yes --no-rolling --forks "$n") ;;
    a/ssh)      CMD=(ssh -F ssh_config -p "${pport[1]}" 127.0.5.1 "$restart_script") ;;
    a/ansible)  CMD=(ansible host1 -i wan-hosts.ini -m shell -a "$restart_script") ;;
    a0/omni)    CMD=(./omni -i inventory.yaml service restart host1 "$svc") ;;
    a0/ssh)     CMD=(ssh -F ssh_config -p "$(ssh_port 1)" 127.0.5.1 "$restart_script") ;;
    b/omni)     CMD=(./omni -i bastion.yaml service restart behind "$svc") ;;
    b/ssh)      CMD=(ssh -F ssh_config -J "$user@127.0.5.$bastion:${pport[$bastion]}" -p "${pport[1]}" 127.0.5.1 "$restart_script") ;;
    cs/omni)    CMD=(./omni -i wan.yaml service status worker "$svc" --forks "$n") ;;
    cs/pssh)    CMD=(parallel-ssh -h wan-pssh.hosts -p "$n" -t "$run_timeout" -i -x "-F $dir/ssh_config" "$status_script") ;;
    cs/ansible) CMD=(ansible worker -i wan-hosts.ini -f "$n" -m shell -a "$status_script") ;;
    cr/omni)    CMD=(./omni -i wan.yaml service restart worker "$svc" --yes --no-rolling --forks "$n") ;;
    cr/pssh)    CMD=(parallel-ssh -h wan-pssh.hosts -p "$n" -t "$run_timeout" -i -x "-F $dir/ssh_config" "$restart_script") ;;
    cr/ansible) CMD=(ansible worker -i wan-hosts.ini -f "$n" -m shell -a "$restart_script") ;;
  esac
}
available() {
  case $1 in
    */pssh) [ -n "$have_pssh" ] ;;
    */ansible) [ -n "$have_ansible" ] ;;
    *) true ;;
  esac
}

declare -A wall fails busy
# busy_ticks: the whole machine's busy time so far, in clock ticks (USER_HZ,
# 100 a second): every CPU's user, nice, system, irq, softirq and steal
# time from /proc/stat, whoever spent it (omni, the sshd hosts, the
# services, toxiproxy, the other tools).
busy_ticks() { awk '$1 == "cpu" {print $2 + $3 + $4 + $7 + $8 + $9; exit}' /proc/stat; }
# one KEY ROUND: runs the command of KEY once, its output to out.KEY (with
# "/" as "."), and keeps the wall time and the machine's busy time unless
# ROUND is warm-up.
one() {
  local key=$1 round=$2 out rc t ms ticks busy_ms
  cmd_for "$key"
  out=out.${key//\//.}
  ticks=$(busy_ticks)
  t=$(date +%s%N)
  # In the background, and waited for: a signal to this script then ends
  # the run at once (cleanup kills it), not after it finishes.
  timeout -k 5 "$run_timeout" "${CMD[@]}" > "$out" 2>&1 < /dev/null &
  running=$!
  rc=0; wait "$running" || rc=$?
  running=
  ms=$(( ($(date +%s%N) - t) / 1000000 ))
  busy_ms=$(( ($(busy_ticks) - ticks) * 10 ))
  if [ "$rc" != 0 ]; then
    fails[$key]=$(( ${fails[$key]:-0} + 1 ))
    echo "  $key run $round: exit $rc after $ms ms; its output:" >&2
    tail -n 15 "$out" | sed 's/^/    /' >&2
  fi
  if [ "$round" = warm-up ]; then
    printf '  warm-up %-11s %6s ms  exit %s\n' "$key" "$ms" "$rc" >&2
    # its masters connect in the background: give them a second
    case $key in */warm) sleep 1 ;; esac
    [ -z "${OMNI_BENCH_VERBOSE:-}" ] || sed 's/^/    | /' "$out" >&2
    return 0
  fi
  # A failed run is not timed: the medians are of the runs that did the work.
  [ "$rc" = 0 ] && wall[$key]+="$ms " && busy[$key]+="$busy_ms "
}
# part NAME KEY...: a warm-up of each key, then RUNS rounds; the order
# within a round turns by one each round, so no tool always runs first.
part() {
  local name=$1; shift
  local keys=() k r i
  for k in "$@"; do available "$k" && keys+=("$k"); done
  echo "$name" >&2
  for k in "${keys[@]}"; do one "$k" warm-up; done
  for r in $(seq "$runs"); do
    for i in $(seq 0 $(( ${#keys[@]} - 1 ))); do
      one "${keys[$(( (i + r - 1) % ${#keys[@]} ))]}" "$r"
    done
  done
}

if [ -n "${OMNI_BENCH_HOLD:-}" ]; then  # keep the fleet and proxies up to time commands by hand
  cmd_for cr/omni
  echo "fleet and proxies up in $dir; e.g. (cd $dir && ${CMD[*]} -v)" >&2
  read -r -p "press enter to tear down " _ || true
  exit 0
fi
t0=$(date +%s)
part "(a) restart, 1 host, ${latency} ms each way" a/omni a/warm a/ssh a/ansible
part "(a0) restart, 1 host, no delay" a0/omni a0/ssh
part "(b) restart via a bastion, both hops delayed" b/omni b/warm b/ssh
part "(c) status, $n hosts" cs/omni cs/warm cs/pssh cs/ansible
part "(c) restart, $n hosts at once" cr/omni cr/warm cr/pssh cr/ansible
elapsed=$(( $(date +%s) - t0 ))

# OMNI_BENCH_PERF=1: one more status and restart of the N hosts per tool under perf
# (cpu-clock on every CPU, 1,000 samples a second: one sample is 1 ms of
# CPU), summed by program name. Not timed, not in the medians.
declare -A by_prog
profiled=0 # set -u: an empty associative array counts as unset in bash 5.2
if [ -n "${OMNI_BENCH_PERF:-}" ]; then
  if perf stat -e cpu-clock true >/dev/null 2>&1; then
    echo "profiles: one more status and restart of the $n hosts per tool, under perf record -a" >&2
    for k in cs/omni cs/pssh cs/ansible cr/omni cr/pssh cr/ansible; do
      available "$k" || continue
      cmd_for "$k"
      p=perf.${k//\//.}
      perf record -q -a -e cpu-clock -F 1000 -o "$p" -- timeout -k 5 "$run_timeout" "${CMD[@]}" > "out.$p" 2>&1 < /dev/null ||
        echo "  $k: the profiled run failed (exit $?)" >&2
      # "PERIOD COMM" lines, the period in ns of CPU; swapper is idle time.
      profiled=1
      by_prog[$k]=$(perf report -i "$p" --stdio --no-children -g none -F period,comm 2>/dev/null |
        awk '!/^#/ && NF >= 2 && $2 != "swapper" {ms[$2] += $1 / 1e6} END {for (c in ms) printf "%d %s\n", ms[c], c}' | sort -rn)
    done
  else
    echo "OMNI_BENCH_PERF: perf does not work here; no profiles" >&2
  fi
fi

# Every service must still be up and healthy after all those restarts.
final_rc=0; ./omni -i inventory.yaml service status worker "$svc" --forks "$bastion" > final.status 2>&1 || final_rc=$?
healthy=$(grep -Ec '(Running|running).*passed' final.status || true)

median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {if (NR == 0) print "-"; else print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {if (a == "-" || b == "-" || b == 0) print "-"; else printf "%.2fx", a/b}'; }
fmt() { awk -v a="$1" 'BEGIN {if (a == "-") print "-"; else {s = sprintf("%d", a + 0.5); while (s ~ /[0-9][0-9][0-9][0-9]/) sub(/[0-9][0-9][0-9]$/, ",&", s); print s " ms"}}'; }
med() { median ${wall[$1]:-}; }

echo
echo "omni over a delayed link: real OpenSSH sshd hosts on loopback behind toxiproxy $tp_version, ${latency} ms each way"
echo "$(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, load average at the start $load0, at the end $(cut -d' ' -f1-3 /proc/loadavg)"
echo "$(./omni --version 2>&1); $(ssh -V 2>&1)"
[ -n "$have_pssh" ] && echo "parallel-ssh $(parallel-ssh --version 2>&1)" || echo "parallel-ssh: not installed, left out"
[ -n "$have_ansible" ] && echo "$(ansible --version 2>/dev/null | awk 'NR == 1') (pipelining, ControlPersist 60s)" || echo "ansible: not installed, left out"
echo "each command once as a warm-up, then $runs interleaved rounds per part; $elapsed s of runs"
echo
echo "runs (ms):"
for k in a/omni a/warm a/ssh a/ansible a0/omni a0/ssh b/omni b/warm b/ssh cs/omni cs/warm cs/pssh cs/ansible cr/omni cr/warm cr/pssh cr/ansible; do
  available "$k" || continue
  printf '  %-11s %s(failed: %s)\n' "$k" "${wall[$k]:-}" "${fails[$k]:-0}"
done
echo
# How busy the whole machine was while each command ran: a run whose busy
# time comes near its wall time × the cores was bound by the machine's
# CPU, not by the link's round trips.
echo "the machine's busy time during a run (medians; all $(nproc) cores, every process):"
for k in a/omni a/ssh a/ansible cr/omni cr/warm cr/pssh cr/ansible; do
  available "$k" || continue
  b=$(median ${busy[$k]:-}); w=$(median ${wall[$k]:-})
  awk -v k="$k" -v b="$b" -v w="$w" -v n="$(nproc)" 'BEGIN {if (b == "-" || w == "-" || w == 0) printf "  %-11s -\n", k; else printf "  %-11s %5d ms busy in %5d ms: %3.0f%% of the cores\n", k, b, w, 100 * b / (w * n)}'
done
if [ "$profiled" = 1 ]; then
  echo
  # The hosts' side that no tool's code runs: their sshd (logins,
  # sessions, channels), the services (starting, stopping, answering the
  # health checks), toxiproxy, and the inventory's own start and status
  # commands (setsid, nohup, cat). omni's own share is omni and the shells
  # (sh, bash) and sleeps of its scripts.
  shared="sshd omni-demo-svc toxiproxy-serve setsid nohup cat"
  echo "where the machine's CPU went in one more status and restart of the $n hosts (perf record -a; ms of CPU by program):"
  for k in cs/omni cs/pssh cs/ansible cr/omni cr/pssh cr/ansible; do
    [ -n "${by_prog[$k]:-}" ] || continue
    echo "$k: $(echo "${by_prog[$k]}" | awk '{t += $1} END {print t}') ms in all; $(echo "${by_prog[$k]}" | awk 'NR <= 9 {printf "%s%s %d", (NR > 1 ? ", " : ""), $2, $1}')"
    echo "${by_prog[$k]}" | awk -v shared="$shared" -v n="$(nproc)" '
      BEGIN {split(shared, s, " "); for (i in s) in_s[s[i]] = 1}
      in_s[$2] {t += $1}
      END {printf "    of it, on the hosts but in no tool of the benchmark (%s): %d ms, which alone keeps %d cores busy for %d ms\n", shared, t, n, t / n}'
  done
  # That floor under omni's cold run, against what its targets allow: a
  # target below the floor cannot be met by any omni that logs in afresh.
  for p in "cs status" "cr restart"; do
    set -- $p
    [ -n "${by_prog[$1/omni]:-}" ] || continue
    floor=$(echo "${by_prog[$1/omni]}" | awk -v shared="$shared" -v n="$(nproc)" '
      BEGIN {split(shared, s, " "); for (i in s) in_s[s[i]] = 1}
      in_s[$2] {t += $1} END {printf "%d", t / n}')
    for o in "pssh 0.35 parallel-ssh" "ansible 0.15 Ansible"; do
      set -- $1 $2 $o
      available "$1/$3" || continue
      awk -v f="$floor" -v m="$(med "$1/$3")" -v t="$4" -v what="$2" -v who="$5" 'BEGIN {
        if (m == "-") exit
        printf "  omni %s of %d hosts: floor %d ms of wall; its target, %s x %s %d ms, allows %d ms%s\n",
          what, '"$n"', f, t, who, m, t * m, (t * m < f ? " (below the floor)" : "")}'
    done
  done
fi
echo
row() { printf '| %-40s | %8s | %-26s | %6s |\n' "$@"; }
line() { # work omni-key other-key other-name
  local o m
  if ! available "$3"; then row "$1" "$(fmt "$(med "$2")")" "$4: not installed" "-"; return; fi
  o=$(med "$2"); m=$(med "$3")
  local fo fm
  fo=$(fmt "$o"); [ -z "${fails[$2]:-}" ] || fo="$fo (${fails[$2]} failed)"
  fm=$(fmt "$m"); [ -z "${fails[$3]:-}" ] || fm="$fm (${fails[$3]} failed)"
  row "$1" "$fo" "$4 $fm" "$(ratio "$o" "$m")"
}
row work omni other ratio
echo "|------------------------------------------|----------|----------------------------|--------|"
line "restart, 1 host" a/omni a/ssh "plain ssh"
line "restart, 1 host" a/omni a/ansible "ansible"
line "restart, 1 host, omni warm" a/warm a/ssh "plain ssh"
line "restart, 1 host, omni warm" a/warm a/ansible "ansible"
line "restart, 1 host, no delay" a0/omni a0/ssh "plain ssh"
line "restart via a bastion, both hops delayed" b/omni b/ssh "ssh -J"
line "same, omni warm" b/warm b/ssh "ssh -J"
line "status, $n hosts" cs/omni cs/pssh "parallel-ssh"
line "status, $n hosts" cs/omni cs/ansible "ansible -f $n"
line "status, $n hosts, omni warm" cs/warm cs/pssh "parallel-ssh"
line "status, $n hosts, omni warm" cs/warm cs/ansible "ansible -f $n"
line "restart, $n hosts at once" cr/omni cr/pssh "parallel-ssh"
line "restart, $n hosts at once" cr/omni cr/ansible "ansible -f $n"
line "restart, $n hosts, omni warm" cr/warm cr/pssh "parallel-ssh"
line "restart, $n hosts, omni warm" cr/warm cr/ansible "ansible -f $n"
echo "(medians of $runs runs, failed runs left out; ratio: omni / other; ${latency} ms each way on every SSH connection;"
echo " omni warm: OMNI_CONTROL_PERSIST=10m, its persistent connections left by the warm-up run, as Ansible's ControlPersist masters)"
echo
# Issue 16's targets, for the reader; the script judges nothing else.
verdict() { # omni-key other-key target label
  local r
  available "$2" || { echo "  $4 <= $3: n/a (not installed)"; return; }
  # Judged on the unrounded ratio, printed to three decimals: 0.1548 is
  # not within 0.15, though it prints as 0.15 at two.
  r=$(awk -v a="$(med "$1")" -v b="$(med "$2")" 'BEGIN {if (a == "-" || b == "-" || b == 0) print "-"; else printf "%.6f", a/b}')
  echo "  $4 <= $3: $(awk -v r="$r" -v t="$3" 'BEGIN {if (r == "-") print "- n/a"; else printf "%.3f %s", r, (r + 0 <= t + 0 ? "PASS" : "FAIL")}')"
}
echo "targets (issue 16):"
verdict a/omni a/ssh 1.2 "(a) restart, omni / plain ssh"
verdict a/omni a/ansible 0.6 "(a) restart, omni / ansible"
verdict b/omni b/ssh 1.2 "(b) restart via a bastion, omni / ssh -J"
verdict cs/omni cs/pssh 0.35 "(c) status, omni / parallel-ssh"
verdict cs/omni cs/ansible 0.15 "(c) status, omni / ansible"
verdict cr/omni cr/pssh 0.35 "(c) restart, omni / parallel-ssh"
verdict cr/omni cr/ansible 0.15 "(c) restart, omni / ansible"
echo "the same, omni warm (control_persist):"
verdict a/warm a/ssh 1.2 "(a) restart, omni warm / plain ssh"
verdict a/warm a/ansible 0.6 "(a) restart, omni warm / ansible"
verdict b/warm b/ssh 1.2 "(b) restart via a bastion, omni warm / ssh -J"
verdict cs/warm cs/pssh 0.35 "(c) status, omni warm / parallel-ssh"
verdict cs/warm cs/ansible 0.15 "(c) status, omni warm / ansible"
verdict cr/warm cr/pssh 0.35 "(c) restart, omni warm / parallel-ssh"
verdict cr/warm cr/ansible 0.15 "(c) restart, omni warm / ansible"
echo
nf=0; for k in "${!fails[@]}"; do nf=$(( nf + fails[$k] )); done
echo "failed runs (warm-ups included): $nf"
echo "after all runs: $healthy of $bastion services running and healthy (omni service status, exit $final_rc)"
