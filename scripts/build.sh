#!/usr/bin/env bash
# Builds the static omni binary with its version and commit stamped in
# (`omni --version`). Usage: scripts/build.sh [OUTPUT]   (default ./omni)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$root/omni}
version=$(git -C "$root" describe --tags --always --dirty 2>/dev/null || echo dev)
commit=$(git -C "$root" rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
cd "$root"
CGO_ENABLED=0 go build -trimpath \
  -ldflags "-s -w -X github.com/omni-fleet/omni/cli.Version=$version -X github.com/omni-fleet/omni/cli.Commit=$commit" \
  -o "$out" .
