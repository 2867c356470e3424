#!/usr/bin/env bash
# Benchmark: omni against parallel-ssh (pssh) and ansible on a flat loopback
# fleet of N real OpenSSH sshd hosts (127.0.5.1 … 127.0.5.N, no bastion), one
# omni-demo-svc service per host (command manager; process, port and HTTP
# health checks). Two fleet-wide operations:
#
#   status   omni service status worker demo --forks N
#            pssh / ansible: one shell script per host doing the same check:
#            cat pidfile, kill -0 and ps on the PID, curl /healthz
#   restart  omni service restart worker demo --yes --no-rolling --forks N
#            pssh / ansible: the script of bench-restart.sh per host: SIGTERM,
#            wait until gone, the same start command, wait until /healthz
#            answers, check the process
#
# Warm-up first (not counted): omni and pssh run each operation once,
# ansible runs status once, which brings up its ControlPersist masters.
# Then R rounds, each omni, pssh, ansible for status, then for restart, so
# drift hits all three. ansible takes part in A of the R rounds, spread
# evenly (A defaults to 2: one ansible run on 50 hosts costs over a minute
# of CPU, control and hosts, on two cores, 50 s or more of wall time, and
# 7 of each would take the script far past 10 minutes; pass A = R for
# all). With the defaults the script takes about 12 minutes on an idle
# 2-core machine, more when it is shared. Prints each run, then the median wall time
# and median control-side CPU time (user+sys of the tool and every child
# it waited for, from wait4), the CPU the run cost the hosts, the ratios
# and the targets:
#   omni wall <= 0.8 x pssh, omni wall <= 0.2 x ansible, omni CPU <= 0.1 x pssh
#
#   scripts/bench-fleet.sh [N] [R] [A]      (defaults 50, 7 and 2)
#
# Environment: OMNI_BENCH_RUN_TIMEOUT (default 300 s) ends a run that takes
# longer (it counts as failed); OMNI_BENCH_HOLD=1 keeps the fleet up until Enter (to time
# the commands with another tool); OMNI_FLEET_LOGLEVEL=VERBOSE makes each
# sshd log every connection and session (DIR/hostK/sshd.log), and the script
# then prints the SSH connections and sessions each tool opened per host.
# Installs pssh, ansible-core, openssh-server/client, curl, python3 and time
# when missing (as root, or with passwordless sudo).
set -euo pipefail
n=${1:-50}
runs=${2:-7}
aruns=${3:-2}
case $n$runs$aruns in *[!0-9]*) echo "usage: $0 [N] [RUNS] [ANSIBLE_RUNS]" >&2; exit 2 ;; esac
[ "$n" -ge 1 ] && [ "$runs" -ge 1 ] && [ "$aruns" -ge 1 ] || { echo "usage: $0 [N] [RUNS] [ANSIBLE_RUNS], each at least 1" >&2; exit 2; }
[ "$aruns" -le "$runs" ] || aruns=$runs
root=$(cd "$(dirname "$0")/.." && pwd)
svc=demo

# --- the peers and tools --------------------------------------------------
need=()
command -v parallel-ssh >/dev/null || need+=(pssh)
command -v ansible >/dev/null || need+=(ansible-core)
[ -x /usr/sbin/sshd ] || need+=(openssh-server)
command -v ssh >/dev/null || need+=(openssh-client)
command -v curl >/dev/null || need+=(curl)
[ -x /usr/bin/python3 ] || need+=(python3)
if [ ${#need[@]} -gt 0 ]; then
  sudo=; [ "$(id -u)" = 0 ] || sudo="sudo -n"
  echo "installing ${need[*]} ..." >&2
  $sudo apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" >&2
fi
py=/usr/bin/python3

# --- the fleet --------------------------------------------------------------
dir=$(mktemp -d /tmp/omni-bench-fleet.XXXXXX)
cleanup() {
  "$root/scripts/fleet-n.sh" down "$dir" || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM
nprocs() { local a=(/proc/[0-9]*); echo ${#a[@]}; }
procs0=$(nprocs)
echo "bringing up $n hosts on 127.0.5.1-127.0.5.$n in $dir ..." >&2
t=$(date +%s)
"$root/scripts/fleet-n.sh" up "$dir" "$n" >/dev/null
echo "fleet up in $(( $(date +%s) - t ))s" >&2
cd "$dir"
export ANSIBLE_CONFIG=$dir/ansible.cfg
export ANSIBLE_NOCOLOR=1

# The same work as omni, as one shell line per host: fleet-n.sh's scripts.
status_script=$(cat status.script)
restart_script=$(cat restart.script)

ssh_opts="-i $dir/client_key -o UserKnownHostsFile=$dir/known_hosts -o StrictHostKeyChecking=yes -o BatchMode=yes -o ControlMaster=no -o ControlPath=none"
cmd_for() { # tool op -> sets the array CMD
  local tool=$1 op=$2 script
  script=$status_script; [ "$op" = restart ] && script=$restart_script
  case $tool/$op in
    omni/status)  CMD=(./omni -i inventory.yaml service status worker "$svc" --forks "$n") ;;
    omni/restart) CMD=(./omni -i inventory.yaml service restart worker "$svc" --yes --no-rolling --forks "$n") ;;
    pssh/*)       CMD=(parallel-ssh -h pssh.hosts -p "$n" -t 120 -i -x "$ssh_opts" "$script") ;;
    ansible/*)    CMD=(ansible worker -i hosts.ini -f "$n" -m shell -a "$script") ;;
  esac
}

# measure OUT CMD...: runs CMD with stdout and stderr to OUT and prints
#   wall_ms cpu_ms rc host_cpu_ms mux_cpu_ms machine_cpu_ms
# cpu: user+sys of CMD and every child it waited for (wait4's rusage): the
# control side. host_cpu: the CPU the run cost on the hosts: every sshd
# process tree (listener, connection and session processes, the shells and
# commands they ran), from /proc before and after. The hosts share this
# machine's cores with the tool, so that work slows every tool's wall time.
# mux_cpu: ansible's ControlPersist masters (ssh daemons that no tool
# waits for, so not in cpu). machine_cpu: the whole machine's busy time
# (/proc/stat: all but idle and iowait) from the start of the run until
# 0.2 s after it: the tool, the hosts, the services they stopped and
# started, the kernel. It is the one figure that misses nothing: host_cpu
# misses processes that outlive their sshd connection, such as omni's
# per-connection shell, which exits once the connection has closed and is
# then reaped by init (its CPU, and that of the commands it ran, lands
# there). The machine runs nothing else during the benchmark.
cat > measure.py <<'PY'
import os, signal, subprocess, sys, time
HZ = os.sysconf("SC_CLK_TCK")

def busy():
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return sum(v) - v[3] - v[4]  # all but idle and iowait
DIR = os.getcwd()
MUX = (DIR + "/cp/").encode()

def snapshot(roots):
    procs = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                st = f.read()
            rest = st[st.rindex(")") + 2:].split()
            mux = False
            if rest[1] == "1":  # daemons (ControlPersist masters) are children of init
                with open("/proc/%s/cmdline" % d, "rb") as f:
                    cl = f.read()
                mux = cl.startswith(b"ssh: ") and MUX in cl
        except (OSError, ValueError, IndexError):
            continue
        # utime stime cutime cstime: own time plus that of reaped children
        procs[int(d)] = (int(rest[1]), sum(int(x) for x in rest[11:15]), mux)
    kids = {}
    for p, (pp, _, _) in procs.items():
        kids.setdefault(pp, []).append(p)
    host, stack = 0, [r for r in roots if r in procs]
    while stack:
        p = stack.pop()
        host += procs[p][1]
        stack.extend(kids.get(p, []))
    return host, {p: t for p, (_, t, m) in procs.items() if m}

roots = []
for e in os.listdir(DIR):
    try:
        with open(os.path.join(DIR, e, "sshd.pid")) as f:
            roots.append(int(f.read().split()[0]))
    except (OSError, ValueError, IndexError):
        pass
out, argv = sys.argv[1], sys.argv[2:]
h0, m0 = snapshot(roots)
b0 = busy()
def expire(*_):  # a run past the time limit: end its process group
    try:
        os.killpg(p.pid, signal.SIGTERM)
    except OSError:
        pass
interrupted = []
def interrupt(*_):  # Ctrl-C or SIGTERM: the tool is in its own session, so pass it on
    interrupted.append(1)
    expire()
signal.signal(signal.SIGALRM, expire)
signal.signal(signal.SIGINT, interrupt)
signal.signal(signal.SIGTERM, interrupt)
with open(out, "wb") as f:
    t0 = time.perf_counter_ns()
    p = subprocess.Popen(argv, stdout=f, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    signal.alarm(int(os.environ.get("OMNI_BENCH_RUN_TIMEOUT", "300")))
    _, status, ru = os.wait4(p.pid, 0)
    t1 = time.perf_counter_ns()
    signal.alarm(0)
    p.returncode = os.waitstatus_to_exitcode(status)
if interrupted:
    sys.exit(130)
time.sleep(0.2)  # the hosts' connection processes end and are reaped
h1, m1 = snapshot(roots)
b1 = busy()
# a master that exited meanwhile is lost; one that started counts whole
mux = sum(t - m0.get(pid, 0) for pid, t in m1.items())
print("%.0f %.0f %d %.0f %.0f %.0f" % ((t1 - t0) / 1e6, (ru.ru_utime + ru.ru_stime) * 1000, p.returncode,
                                      (h1 - h0) * 1000 / HZ, mux * 1000 / HZ, (b1 - b0) * 1000 / HZ))
PY
measure() { "$py" measure.py "$@"; }

# SSH connection and session counting (sshd LogLevel VERBOSE only): the
# lines "Accepted publickey" (one per connection) and "Starting session"
# (one per exec session) that a run added to the hosts' sshd logs.
log_mark() { for k in $(seq "$n"); do wc -l < "host$k/sshd.log"; done | paste -sd' '; }
log_count() { # MARKS -> "connections sessions" summed over hosts since MARKS
  local -a marks=($1); local c=0 s=0 k
  for k in $(seq "$n"); do
    local l=$(tail -n +"$(( ${marks[k-1]} + 1 ))" "host$k/sshd.log")
    c=$(( c + $(grep -c 'Accepted publickey' <<<"$l" || true) ))
    s=$(( s + $(grep -c 'Starting session' <<<"$l" || true) ))
  done
  echo "$c $s"
}
verbose=; [ "${OMNI_FLEET_LOGLEVEL:-}" = VERBOSE ] && verbose=1

if [ -n "${OMNI_BENCH_HOLD:-}" ]; then
  echo "fleet in $dir (ANSIBLE_CONFIG=$dir/ansible.cfg); scripts: $dir/status.script, $dir/restart.script"
  for op in status restart; do for tool in omni pssh ansible; do
    cmd_for "$tool" "$op"; printf '  %-7s %-7s (cd %s && %q' "$op" "$tool" "$dir" "${CMD[0]}"; printf ' %q' "${CMD[@]:1}"; echo ')'
  done; done
  read -r -p "press enter to tear down " _
  exit 0
fi

omni_restart=1
tools=(omni pssh ansible)
ops=(status restart)
runnable() { [ "$1/$2" != omni/restart ] || [ -n "$omni_restart" ]; }

declare -A wall cpu hcpu mcpu xcpu fails conns
one() { # tool op round -> records one run
  local tool=$1 op=$2 round=$3 res w c rc h m marks=
  cmd_for "$tool" "$op"
  [ -n "$verbose" ] && marks=$(log_mark)
  res=$(measure "out.$tool.$op" "${CMD[@]}")
  read -r w c rc h m x <<<"$res"
  if [ "$rc" != 0 ]; then
    fails[$tool/$op]=$(( ${fails[$tool/$op]:-0} + 1 ))
    cp "out.$tool.$op" "failed.$tool.$op.$round"
    echo "  $op $tool run $round: exit $rc (output kept in $dir/failed.$tool.$op.$round while the fleet is up):" >&2
    tail -n 5 "out.$tool.$op" | sed 's/^/    /' >&2
  fi
  if [ -n "$verbose" ]; then conns[$tool/$op]=$(log_count "$marks"); fi
  [ "$round" = warm-up ] && { printf '  warm-up %-7s %-8s %7s ms wall %6s ms CPU %6s ms host CPU %6s ms machine CPU  exit %s\n' "$op" "$tool" "$w" "$c" "$h" "$x" "$rc" >&2; return; }
  wall[$tool/$op]+="$w "; cpu[$tool/$op]+="$c "; hcpu[$tool/$op]+="$h "; mcpu[$tool/$op]+="$m "; xcpu[$tool/$op]+="$x "
}

echo "warm-up, not counted: omni and pssh each operation, ansible status (its ControlPersist masters are up after it)" >&2
for op in "${ops[@]}"; do for tool in "${tools[@]}"; do
  runnable "$tool" "$op" && [ "$tool/$op" != ansible/restart ] && one "$tool" "$op" warm-up
done; done
# The warm-up's output must show every host healthy, for each tool.
for tool in "${tools[@]}"; do
  h=$(grep -Ec '(Running|running).*passed' "out.$tool.status" || true)
  [ "$h" = "$n" ] || echo "WARNING: $tool status warm-up shows $h of $n hosts running and healthy" >&2
done
fails=()

# The rounds ansible takes part in: ceil((i + 1/2) R / A) for i < A.
declare -A arounds
for i in $(seq 0 $((aruns - 1))); do arounds[$(( ((2 * i + 1) * runs + 2 * aruns - 1) / (2 * aruns) ))]=1; done
echo "measuring: $runs rounds of omni and pssh, ansible in rounds $(printf '%s\n' "${!arounds[@]}" | sort -n | paste -sd,) ..." >&2
t0=$(date +%s)
for r in $(seq "$runs"); do
  for op in "${ops[@]}"; do for tool in "${tools[@]}"; do
    runnable "$tool" "$op" || continue
    [ "$tool" != ansible ] || [ -n "${arounds[$r]:-}" ] || continue
    one "$tool" "$op" "$r"
  done; done
  echo "  round $r/$runs done ($(( $(date +%s) - t0 ))s)" >&2
done

# Every service must still be up and healthy after all those restarts.
cmd_for omni status
"${CMD[@]}" > final.status 2>&1 || true
healthy=$(grep -c 'Running.*passed' final.status || true)

median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {if (NR == 0) print "-"; else print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {if (a == "-" || b == "-" || b == 0) print "-"; else printf "%.3f", a/b}'; }
verdict() { awk -v r="$1" -v t="$2" 'BEGIN {if (r == "-") print "n/a"; else print (r <= t ? "PASS" : "FAIL")}'; }

declare -A mw mc mh mm mx
row() { printf '| %-9s | %-8s | %14s | %14s | %14s | %14s | %11s |\n' "$@"; }
echo
echo "omni vs parallel-ssh vs ansible: $n loopback OpenSSH hosts (127.0.5.x, no bastion), one service each"
echo "$(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, load average at the end $(cut -d' ' -f1-3 /proc/loadavg), $(nprocs) processes on the machine (at the start: $procs0)"
echo "(ps -p PID reads every process's /proc entry: the more processes, the dearer each ps in the status and stop scripts)"
echo "$(./omni --version 2>&1); parallel-ssh $(parallel-ssh --version 2>&1); $(ansible --version 2>/dev/null | awk 'NR == 1')"
echo "warm-up (not counted): omni and pssh each operation, ansible status (its ControlPersist masters are up after it)"
echo "then $runs interleaved rounds (status: omni, pssh, ansible; restart: the same); ansible in $aruns of them"
echo "control CPU: user+sys of the tool and all its waited-for children (wait4)"
echo "host CPU: what the run cost the $n sshd hosts (sshd, shells, commands), which share this machine's cores;"
echo "  it misses what outlives its sshd connection (omni's per-connection shell is reaped by init)"
echo "machine CPU: the whole machine's busy time during the run (tool, hosts, services, kernel): misses nothing"
echo
echo "runs (ms):"
for op in "${ops[@]}"; do for tool in "${tools[@]}"; do
  k=$tool/$op
  if ! runnable "$tool" "$op"; then printf '  %-7s %-7s not supported by this omni build\n' "$op" "$tool"; continue; fi
  printf '  %-7s %-7s wall        %s\n' "$op" "$tool" "${wall[$k]}"
  printf '  %-7s %-7s control CPU %s\n' "" "" "${cpu[$k]}"
  printf '  %-7s %-7s host CPU    %s\n' "" "" "${hcpu[$k]}"
  [ "$tool" = ansible ] && printf '  %-7s %-7s mux CPU     %s\n' "" "" "${mcpu[$k]}"
  printf '  %-7s %-7s machine CPU %s\n' "" "" "${xcpu[$k]}"
  mw[$k]=$(median ${wall[$k]}); mc[$k]=$(median ${cpu[$k]}); mh[$k]=$(median ${hcpu[$k]}); mm[$k]=$(median ${mcpu[$k]}); mx[$k]=$(median ${xcpu[$k]})
done; done
echo
row operation tool "wall ms" "control CPU ms" "host CPU ms" "machine CPU ms" "failed runs"
echo "|-----------|----------|----------------|----------------|----------------|----------------|-------------|"
for op in "${ops[@]}"; do for tool in "${tools[@]}"; do
  k=$tool/$op
  rr=$runs; [ "$tool" = ansible ] && rr=$aruns
  if runnable "$tool" "$op"; then f="${fails[$k]:-0} of $rr"; else f=n/a; fi
  c=${mc[$k]:--}; [ "$tool" = ansible ] && [ -n "${mm[$k]:-}" ] && c="$c (+${mm[$k]} mux)"
  row "$op" "$tool" "${mw[$k]:--}" "$c" "${mh[$k]:--}" "${mx[$k]:--}" "$f"
done; done
echo "(medians; \"+N mux\": ansible's ControlPersist masters, daemons outside its waited-for children)"
echo
printf '| %-9s | %-18s | %8s | %8s | %-6s |\n' operation ratio measured target result
echo "|-----------|--------------------|----------|----------|--------|"
for op in "${ops[@]}"; do
  r=$(ratio "${mw[omni/$op]:--}" "${mw[pssh/$op]:--}");    printf '| %-9s | %-18s | %8s | %8s | %-6s |\n' "$op" "omni/pssh wall" "$r" "<= 0.8" "$(verdict "$r" 0.8)"
  r=$(ratio "${mw[omni/$op]:--}" "${mw[ansible/$op]:--}"); printf '| %-9s | %-18s | %8s | %8s | %-6s |\n' "$op" "omni/ansible wall" "$r" "<= 0.2" "$(verdict "$r" 0.2)"
  r=$(ratio "${mc[omni/$op]:--}" "${mc[pssh/$op]:--}");    printf '| %-9s | %-18s | %8s | %8s | %-6s |\n' "$op" "omni/pssh CPU" "$r" "<= 0.1" "$(verdict "$r" 0.1)"
done
if [ -n "$verbose" ]; then
  echo
  echo "SSH connections / sessions opened per run, summed over the $n sshd logs (last run of each):"
  for op in "${ops[@]}"; do for tool in "${tools[@]}"; do
    runnable "$tool" "$op" || continue
    read -r c s <<<"${conns[$tool/$op]:-0 0}"
    printf '  %-7s %-8s %4s connections, %4s sessions (%s per host)\n' "$op" "$tool" "$c" "$s" "$(awk -v s="$s" -v n="$n" 'BEGIN {printf "%.1f", s/n}')"
  done; done
fi
echo
echo "after all runs: $healthy of $n services running and healthy (omni service status)"
