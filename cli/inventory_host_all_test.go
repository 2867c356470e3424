package cli

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeTempInventory writes content as inventory.yaml in a fresh
// directory, with a known_hosts beside it, and returns its path.
func writeTempInventory(t *testing.T, content string) string {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "inventory.yaml")
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestHostNamedAllTargetRefused: the CLI side of
// inventory.TestHostNamedAllRefused. An inventory with a host named `all`
// (role `all` not written in roles:) is refused at load, exit 2, naming the
// line. It loaded, and `omni service restart all a --dry-run` planned the
// restart of host `all` alone, where the target `all` is every host (found
// by review).
func TestHostNamedAllTargetRefused(t *testing.T) {
	inv := writeTempInventory(t, `version: 1
defaults: {known_hosts: known_hosts}
hosts:
  all: {address: 10.0.0.1, roles: [web]}
  w1: {address: 10.0.0.2, roles: [web]}
roles:
  web: [a]
services:
  a: {manager: command, commands: {start: "true", status: "true"}}
`)
	s, out, errOut := TestStreams("", false)
	code := Run(context.Background(), []string{"-i", inv, "service", "restart", "all", "a", "--dry-run"}, s)
	if code != ExitUsage || out.Len() != 0 || !strings.Contains(errOut.String(), inv+`:4: a host cannot be named "all"`) {
		t.Errorf("exit %d, want %d and %s:4 (a host may not be called \"all\")\nstdout:\n%s\nstderr:\n%s", code, ExitUsage, inv, out, errOut)
	}
}

// TestInventoryCheckWithoutHosts: an inventory of only `version: 1` (and
// defaults) is valid, as docs/inventory.md now says (it said hosts, roles
// and services were required; the loader never required them: found by
// review). `inventory check` says so, exit 0.
func TestInventoryCheckWithoutHosts(t *testing.T) {
	inv := writeTempInventory(t, "version: 1\ndefaults: {known_hosts: known_hosts}\n")
	s, out, errOut := TestStreams("", false)
	code := Run(context.Background(), []string{"-i", inv, "inventory", "check"}, s)
	if code != ExitOK || !strings.Contains(out.String(), inv+" is valid: 0 hosts, 0 roles, 0 services (0 enabled).") {
		t.Errorf("exit %d, want 0 and \"0 hosts, 0 roles, 0 services\"\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
}
