#!/usr/bin/env bash
# Try omni in one command, on a machine with only Go installed: builds omni,
# brings up the lab (the spec's fleet from examples/inventory.yaml: an
# in-process SSH server per host on loopback, every service a real local
# process), runs the spec's restart, stop and start examples over real SSH,
# and takes the lab down again, leaving no process behind.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
work=$(mktemp -d "${TMPDIR:-/tmp}/omni-try.XXXXXX")
lab="$work/lab"
./scripts/build.sh "$work/omni"
omni() { echo; echo "\$ omni $*"; "$work/omni" -i "$lab/inventory.yaml" "$@"; }
trap '"$work/omni" lab down --dir "$lab" >/dev/null; rm -rf "$work"' EXIT

"$work/omni" lab up --from examples/inventory.yaml --dir "$lab"
omni service restart primary-bastion api-gateway
omni service stop worker1 container-runtime --yes
omni service start worker1 container-runtime
omni service logs worker1 container-runtime -n 5
echo
"$work/omni" lab down --dir "$lab"
