#!/usr/bin/env bash
# Benchmark: one `omni service restart` on one loopback sshd host against one
# plain `ssh` invocation running the same stop / wait-stopped / start /
# health-check commands (with curl for the HTTP check). Runs alternate
# (omni, ssh, omni, ssh, ...) so drift hits both; prints each run and the
# medians and their ratio.
#
#   scripts/bench-restart.sh [RUNS]      (default 15)
set -euo pipefail
runs=${1:-15}
root=$(cd "$(dirname "$0")/.." && pwd)
dir=$(mktemp -d /tmp/omni-bench.XXXXXX)
trap '"$root/scripts/fleet.sh" down "$dir"' EXIT
# Services that start and stop at once, so the figures are omni's own overhead.
OMNI_DEMO_READY_AFTER=0s OMNI_DEMO_STOP_DELAY=0s "$root/scripts/fleet.sh" up "$dir" >/dev/null
cd "$dir"
./omni -i inventory.yaml service start primary-bastion network-agent >/dev/null
./omni -i inventory.yaml service start primary-bastion api-gateway >/dev/null

port=$(sed -n 's/.*primary-bastion: {address: 127.0.0.61, port: \([0-9]*\),.*/\1/p' inventory.yaml)
start=$(sed -n '/^  api-gateway:/,/start:/s/^      start: .\(.*\).$/\1/p' inventory.yaml | sed "s/''/'/g")
files="$dir/run/primary-bastion.api-gateway"
# The same steps omni runs, as one script: SIGTERM, wait until gone (a zombie
# counts), start, wait for the process, port and HTTP check to pass, then
# check the service it requires (network-agent) runs and answers.
script="OMNI_HOST=primary-bastion OMNI_SERVICE=api-gateway OMNI_ADDRESS=127.0.0.61; export OMNI_HOST OMNI_SERVICE OMNI_ADDRESS
pid=\$(cat $files.pid); kill -TERM \$pid
while st=\$(ps -o stat= -p \$pid) && [ \"\${st#Z}\" = \"\$st\" ]; do sleep 0.05; done
$start
i=0; until curl -fsS -o /dev/null http://127.0.0.61:17402/healthz; do i=\$((i+1)); [ \$i -lt 30 ] || exit 1; sleep 0.1; done
kill -0 \$(cat $files.pid)
kill -0 \$(cat $dir/run/primary-bastion.network-agent.pid) && curl -fsS -o /dev/null http://127.0.0.61:17401/healthz"
printf '%s\n' "$script" > ssh-restart.script
ssh_cmd=(ssh -q -i client_key -o BatchMode=yes -o StrictHostKeyChecking=yes -o UserKnownHostsFile=known_hosts
  -o ControlMaster=no -o ControlPath=none -p "$port" "$(id -un)@127.0.0.61" "$script")
omni_cmd=(./omni -i inventory.yaml service restart primary-bastion api-gateway)

if [ -n "${OMNI_BENCH_HOLD:-}" ]; then  # keep the fleet up to time the two commands with another tool
  echo "fleet in $dir; omni: (cd $dir && ${omni_cmd[*]}); ssh: (cd $dir && ${ssh_cmd[*]:0:${#ssh_cmd[@]}-1} \"\$(cat ssh-restart.script)\")"
  read -r -p "press enter to tear down " _
fi
ms() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }
omni_times=(); ssh_times=()
"${omni_cmd[@]}" >/dev/null; "${ssh_cmd[@]}" >/dev/null   # warm-up
for i in $(seq "$runs"); do
  t=$(date +%s%N); "${omni_cmd[@]}" >/dev/null; omni_times+=("$(ms "$t")")
  t=$(date +%s%N); "${ssh_cmd[@]}" >/dev/null; ssh_times+=("$(ms "$t")")
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
mo=$(median "${omni_times[@]}"); ms_=$(median "${ssh_times[@]}")
echo "omni restart (ms): ${omni_times[*]}"
echo "plain ssh    (ms): ${ssh_times[*]}"
echo "median: omni ${mo} ms, plain ssh ${ms_} ms, ratio omni/ssh $(awk -v a="$mo" -v b="$ms_" 'BEGIN {printf "%.2f", a/b}')"
