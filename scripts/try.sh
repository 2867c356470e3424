#!/usr/bin/env bash
# Try omni in one command, on a machine with only Go installed: builds omni,
# brings up the lab (the spec's fleet from examples/inventory.yaml: an
# in-process SSH server per host on loopback, every service a real local
# process), runs the spec's restart, stop and start examples over real SSH,
# and takes the lab down again, leaving no process behind; it ends by saying
# how to bring up a lab that stays.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
work=$(mktemp -d "${TMPDIR:-/tmp}/omni-try.XXXXXX")
lab="$work/lab"
./scripts/build.sh "$work/omni"
omni() { echo; echo "\$ omni $*"; "$work/omni" -i "$lab/inventory.yaml" "$@"; }
trap '"$work/omni" lab down --dir "$lab" >/dev/null; rm -rf "$work"' EXIT

# lab up ends with "Try:" commands for its lab; this lab and this omni are
# gone when the script ends, so those lines are left out (see the end).
"$work/omni" lab up --from examples/inventory.yaml --dir "$lab" | sed '/^Try:$/,$d'
omni service restart primary-bastion api-gateway
omni service stop worker1 container-runtime --yes
omni service start worker1 container-runtime
omni service logs worker1 container-runtime -n 5
echo
"$work/omni" lab down --dir "$lab"
cat <<'EOF'

The lab is down and its directory removed: nothing is left running.
To keep a lab up and try more commands against it:
  ./scripts/build.sh && ./omni lab up --from examples/inventory.yaml
It prints the commands to try while it is up; ./omni lab down takes it down.
EOF
