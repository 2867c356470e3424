#!/usr/bin/env bash
# The whole test suite: installs what the tests need (openssh-server,
# systemd, sudo), then vets and runs every test. CI runs exactly this
# through .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-test-deps.sh
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
  echo "gofmt: not formatted: $unformatted" >&2
  exit 1
fi
./scripts/x-crypto.sh check
go vet ./...
# The engine runs checks, hosts and fan-outs side by side: its own tests
# (fake connections, seconds) run again under the race detector. They run
# beside the main test run, whose end-to-end tests mostly wait on their
# hosts (the cli package alone takes 12 minutes on an idle 2-core
# machine): their output is printed once both are done.
race_log=$(mktemp)
go test -race -count=1 ./engine/ ./engine/health/ ./internal/fanout/ ./internal/warm/ > "$race_log" 2>&1 &
race_pid=$!
# -timeout bounds a hang, not a slow machine: the cli package took 15
# minutes once on this machine busy with other work.
rc=0
go test -count=1 -timeout 25m ./... || rc=$?
race_rc=0
wait "$race_pid" || race_rc=$?
cat "$race_log"
rm -f "$race_log"
[ "$rc" -eq 0 ] || exit "$rc"
[ "$race_rc" -eq 0 ] || exit "$race_rc"
# A short fuzz run of inventory loading (merge keys, aliases, any bytes):
# it must never panic or hang. Crashers land in inventory/testdata/fuzz
# and are replayed by the go test line above from then on.
go test -run='^$' -fuzz='^FuzzParse$' -fuzztime=10s ./inventory/
