#!/usr/bin/env bash
# Benchmark: `omni service status all network-agent` over a lab fleet of
# 1,000 hosts with a real service on each, at two --forks values. Measures
# each run's wall time and peak RSS with /usr/bin/time, prints every run and
# the medians, and the lab server's own peak RSS and CPU time separately.
#
#   scripts/bench-scale.sh [RUNS]        (default 5 runs per --forks value)
#
# Environment:
#   OMNI_BENCH_FORKS="20 100"  the --forks values; runs alternate between them
#   OMNI_BENCH_HOSTS=1000      fleet size; run it at 100 and at 1000 to see
#                              whether the lab's CPU per host (printed with
#                              the medians) grows with the fleet
#   OMNI_BENCH_SERVICES=1      0: bring the lab up with --no-services (status
#                              then reads a stopped service on every host,
#                              still over SSH, and runs no health check)
#
# The fleet (written below) is examples/inventory.yaml cut down to one
# service: primary-bastion and workers behind it, each running
# network-agent with the example's process, port and HTTP health checks.
# The example fleet itself would run 4 services on each worker, 4,000 at
# 1,000 hosts: more than `omni lab up` starts (lab.MaxServices).
#
# Each status run opens one SSH connection to primary-bastion and one to
# every worker through it (direct-tcpip), reads the service's state (one
# session), and runs one attempt of each health check (port and HTTP are
# dialled through the host's SSH connection).
set -euo pipefail
runs=${1:-5}
hosts=${OMNI_BENCH_HOSTS:-1000}
forks_list=${OMNI_BENCH_FORKS:-"20 100"}
services=${OMNI_BENCH_SERVICES:-1}
root=$(cd "$(dirname "$0")/.." && pwd)

if [ ! -x /usr/bin/time ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "installing GNU time (/usr/bin/time)..." >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq time >/dev/null
  else
    echo "bench-scale: /usr/bin/time is missing: install the package 'time'" >&2
    exit 1
  fi
fi

work=$(mktemp -d /tmp/omni-bench-scale.XXXXXX)
dir=$work/lab
omni=$work/omni
cleanup() {
  if [ -e "$dir/lab.json" ]; then "$omni" lab down --dir "$dir" >/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

if [ -n "${OMNI_BENCH_OMNI:-}" ]; then
  cp "$OMNI_BENCH_OMNI" "$omni"
else
  "$root/scripts/build.sh" "$omni"
fi
cat > "$work/fleet.yaml" <<'YAML'
version: 1
defaults:
  known_hosts: known_hosts
hosts:
  primary-bastion: {address: 203.0.113.10, roles: [bastion]}
  worker1: {address: 10.20.0.11, roles: [worker], via: primary-bastion}
roles:
  all: [network-agent]
  bastion: []
  worker: []
services:
  network-agent:
    health:
      process: true
      port: 7410
      http: {port: 7410, path: /healthz}
YAML

up_flags=(--from "$work/fleet.yaml" --hosts "$hosts" --dir "$dir")
what="real services (network-agent on every host)"
if [ "$services" = 0 ]; then
  up_flags+=(--no-services)
  what="--no-services (status reads a stopped service on every host over SSH)"
fi
echo "lab: $hosts hosts, $what"
began=$(date +%s)
if ! "$omni" lab up "${up_flags[@]}" --parallel 32 >"$work/up.log" 2>&1; then
  # On a loaded machine a few services may miss their start deadline; the
  # lab stays up, and they are started again below. Anything else is fatal.
  if [ ! -e "$dir/lab.json" ] || ! grep -q "services did not start" "$work/up.log"; then
    tail -20 "$work/up.log" >&2
    exit 1
  fi
fi
echo "lab up in $(( $(date +%s) - began )) s"
serve=$(sed -n 's/.*"serve_pid": *\([0-9]*\).*/\1/p' "$dir/lab.json")

cmd=("$omni" -i "$dir/inventory.yaml" service status all network-agent)
if [ "$services" != 0 ]; then
  for attempt in 1 2 3; do
    # Hosts whose network-agent is not running and passing its checks.
    "${cmd[@]}" -o json >"$work/status.json" 2>/dev/null || true
    down=$(awk -F'"' '
      function check() { if (h != "" && !(st == "running" && he == "passed")) print h }
      $2 == "host" { check(); h = $4; st = ""; he = "" }
      $2 == "state" { st = $4 }
      $2 == "health" { he = $4 }
      END { check() }' "$work/status.json")
    [ -z "$down" ] && break
    echo "starting network-agent again on $(echo "$down" | wc -l) hosts (attempt $attempt)"
    echo "$down" | xargs -P 8 -I{} "$omni" -i "$dir/inventory.yaml" service start {} network-agent >/dev/null 2>&1 || true
  done
fi
want_state=Running
[ "$services" = 0 ] && want_state=Stopped
# CPU of a process and of the children it waited for: for lab serve, the
# SSH servers and the shell commands they ran.
cpu_ticks() { awk '{print $14 + $15 + $16 + $17}' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)

# One run: wall, peak RSS and CPU of omni; CPU of the lab server meanwhile.
one_run() { # forks
  local before after rc=0
  before=$(cpu_ticks "$serve")
  /usr/bin/time -f '%e s %M KB %U %S' -o "$work/time" "${cmd[@]}" --forks "$1" >"$work/out" 2>"$work/err" || rc=$?
  after=$(cpu_ticks "$serve")
  # Every row must read the service's state; with services, every health
  # check must pass. On an overloaded machine a check can miss its 2 s
  # timeout: such a run is reported, not dropped.
  # The table's columns: HOST SERVICE STATE PID UPTIME HEALTH ...
  local ok pattern=" $want_state "
  [ "$services" != 0 ] && pattern=' Running .* passed '
  ok=$(grep -c "$pattern" "$work/out" || true)
  bad=$((hosts - ok))
  # status is a check: it exits 1 when the services are stopped, as they
  # are in a run without services.
  local want_rc=0
  [ "$services" = 0 ] && want_rc=1
  if [ "$rc" != "$want_rc" ] && [ "$bad" = 0 ]; then
    echo "run failed: exit $rc" >&2
    tail -5 "$work/err" >&2
    exit 1
  fi
  summary=""
  if [ "$bad" != 0 ]; then
    failed_runs=$((failed_runs + 1))
    # What they said instead, by State and Health column, digits as N.
    summary=$(grep -v "$pattern" "$work/out" | grep -v '^HOST ' |
      awk '{$1 = $2 = ""; print " " $0}' |
      sed 's/[0-9][0-9]*/N/g' | sort | uniq -c | sort -nr | head -3 || true)
  fi
  read -r wall _ rss _ user sys <"$work/time"
  serve_cpu=$(awk -v t=$((after - before)) -v hz="$hz" 'BEGIN {printf "%.2f", t / hz}')
}

"${cmd[@]}" --forks 20 >/dev/null 2>&1 || true # warm-up: page cache, registry file
# Lab serve's peak RSS from here on, not `lab up`'s (which starts the
# services over connections to every host): Linux resets VmHWM on "5".
hwm_note="over the status runs"
echo 5 >"/proc/$serve/clear_refs" 2>/dev/null || hwm_note="over the lab's life, lab up included"
declare -A walls rsses cpus labs
failed_runs=0
for i in $(seq "$runs"); do
  for f in $forks_list; do
    one_run "$f"
    cpu=$(awk -v u="$user" -v s="$sys" 'BEGIN {print u + s}')
    walls[$f]+="$wall "; rsses[$f]+="$rss "; cpus[$f]+="$cpu "; labs[$f]+="$serve_cpu "
    note=""
    if [ "$bad" != 0 ]; then
      note="  ($bad of $hosts rows not $want_state"
      [ "$services" != 0 ] && note+=" and healthy"
      note+=")"
    fi
    printf 'run %d forks %-4s %6s s %7s KB  omni cpu %5.2f s  lab cpu %6s s  load %s%s\n' \
      "$i" "$f" "$wall" "$rss" "$cpu" "$serve_cpu" \
      "$(cut -d' ' -f1 /proc/loadavg)" "$note"
    [ -z "$summary" ] || echo "$summary"
  done
done

median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
echo
echo "command: omni -i LAB/inventory.yaml service status all network-agent --forks F   ($hosts hosts, $runs runs each)"
for f in $forks_list; do
  # shellcheck disable=SC2086
  w=$(median ${walls[$f]}); r=$(median ${rsses[$f]})
  # shellcheck disable=SC2086
  max=$(printf '%s\n' ${rsses[$f]} | sort -n | tail -1)
  # shellcheck disable=SC2086
  c=$(median ${cpus[$f]}); l=$(median ${labs[$f]})
  printf 'forks %-4s median wall %s s, median peak RSS %d MiB (max %d MiB), median omni cpu %s s, median lab cpu %s s (%s ms per host)\n' \
    "$f" "$w" $((r / 1024)) $((max / 1024)) "$c" "$l" "$(awk -v l="$l" -v n="$hosts" 'BEGIN {printf "%.1f", 1000 * l / n}')"
done
hwm=$(awk '/^VmHWM/ {print $2}' "/proc/$serve/status")
printf 'lab serve (pid %s, the SSH servers, not omni): peak RSS %d MiB %s\n' "$serve" $((hwm / 1024)) "$hwm_note"
if [ "$services" != 0 ]; then
  pss=0; n=0
  for p in $(pgrep -f "lab service .*$dir/"); do
    kb=$(awk '/^Pss:/ {print $2}' "/proc/$p/smaps_rollup" 2>/dev/null || echo 0)
    pss=$((pss + kb)); n=$((n + 1))
  done
  printf 'lab services: %d processes, %d MiB in all (PSS)\n' "$n" $((pss / 1024))
fi
echo "(lab cpu: lab serve and the commands its sessions ran, during each run; load: 1-minute load average)"
if [ "$failed_runs" != 0 ]; then
  echo "WARNING: $failed_runs runs had rows that were not $want_state and healthy (see above): the machine was too busy for the checks' timeouts"
fi
