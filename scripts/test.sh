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
# -timeout bounds a hang, not a slow machine: the cli package's end-to-end
# tests (real sshd, systemd, etcd) take about 12 minutes alone on an idle
# 2-core machine (729 s), and 15 on one busy with other work.
go test -count=1 -timeout 25m ./...
# The engine runs checks, hosts and fan-outs side by side: its own tests
# (fake connections, seconds) run again under the race detector.
go test -race -count=1 ./engine/ ./engine/health/ ./internal/fanout/ ./internal/warm/
# A short fuzz run of inventory loading (merge keys, aliases, any bytes):
# it must never panic or hang. Crashers land in inventory/testdata/fuzz
# and are replayed by the go test line above from then on.
go test -run='^$' -fuzz='^FuzzParse$' -fuzztime=10s ./inventory/
