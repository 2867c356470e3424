#!/usr/bin/env bash
# Builds omni and shows its main job for real: brings up a loopback fleet
# (real sshd hosts, a worker behind a bastion, real service processes), runs
# the spec's restart, stop and start examples against it, and takes the
# fleet down again.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/install-test-deps.sh"
dir=$(mktemp -d /tmp/omni-try.XXXXXX)
trap '"$root/scripts/fleet.sh" down "$dir"' EXIT
"$root/scripts/fleet.sh" up "$dir" >/dev/null
cd "$dir"
show() { echo; echo "\$ omni $*"; ./omni -i inventory.yaml "$@"; }
# Bring the services up quietly first.
for target in "primary-bastion network-agent" "primary-bastion api-gateway" "worker1 network-agent" "worker1 container-runtime"; do
  ./omni -i inventory.yaml service start $target >/dev/null
done
show inventory check
show service restart primary-bastion api-gateway
show service stop worker1 container-runtime --yes
show service start worker1 container-runtime
show service logs worker1 container-runtime -n 5
