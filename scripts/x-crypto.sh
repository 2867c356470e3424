#!/usr/bin/env bash
# omni builds with a patched copy of golang.org/x/crypto, in
# third_party/x-crypto (go.mod replaces the module with it). The copy is
# upstream's release VERSION, only the Go and assembly files of the packages
# omni's build and tests import, without upstream's tests, plus
# third_party/x-crypto.patch. See
# third_party/README.md for what the patch does and why.
#
#   scripts/x-crypto.sh sync    recreate the copy: upstream VERSION (from the
#                               Go module proxy) + the patch
#   scripts/x-crypto.sh check   fail unless the copy is exactly that
#                               (scripts/test.sh runs it)
#
# To move to a newer x/crypto: set VERSION below, run sync (fix the patch
# if it no longer applies), go build ./... && ./scripts/test.sh.
set -euo pipefail
VERSION=v0.59.0
# The packages of x/crypto that omni's build and tests import
# (go list -deps -test all | grep '^golang.org/x/crypto/': go mod tidy needs
# what the tests of omni's dependencies import too).
PACKAGES="bcrypt blowfish chacha20 cryptobyte cryptobyte/asn1 curve25519
  internal/alias internal/poly1305 ssh ssh/agent ssh/internal/bcrypt_pbkdf
  ssh/knownhosts ssh/terminal ssh/testdata"
root=$(cd "$(dirname "$0")/.." && pwd)
dest=$root/third_party/x-crypto
patchfile=$root/third_party/x-crypto.patch

# build DIR: upstream's files of PACKAGES into DIR, then the patch.
build() {
  local out=$1 src
  src=$(cd "$root" && GOFLAGS=-mod=mod go mod download -json "golang.org/x/crypto@$VERSION" |
    sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  [ -d "$src" ] || { echo "x-crypto.sh: cannot download golang.org/x/crypto@$VERSION" >&2; exit 1; }
  mkdir -p "$out"
  cp "$src/LICENSE" "$src/PATENTS" "$src/go.mod" "$out/"
  local p f
  for p in $PACKAGES; do
    mkdir -p "$out/$p"
    for f in "$src/$p"/*; do
      case $f in *_test.go) continue ;; *.go | *.s) ;; *) continue ;; esac
      cp "$f" "$out/$p/"
    done
  done
  chmod -R u+w "$out"
  (cd "$out" && patch -s -p1 < "$patchfile")
}

case ${1:-} in
sync)
  tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
  build "$tmp/x-crypto"
  rm -rf "$dest"
  mv "$tmp/x-crypto" "$dest"
  echo "third_party/x-crypto: golang.org/x/crypto $VERSION + x-crypto.patch"
  ;;
check)
  tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
  build "$tmp/x-crypto"
  if ! diff -r "$tmp/x-crypto" "$dest" >&2; then
    echo "x-crypto.sh: third_party/x-crypto is not golang.org/x/crypto $VERSION + x-crypto.patch (scripts/x-crypto.sh sync recreates it)" >&2
    exit 1
  fi
  ;;
*)
  echo "usage: $0 sync|check" >&2
  exit 2
  ;;
esac
