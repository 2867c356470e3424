package cli

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestReviewInvPlaybooksDirMissing: a team keeps a restart.yaml override
// that gives every service 2 minutes to drain (docs/playbooks.md's own
// example) in ./playbooks, and the cron line or OMNI_PLAYBOOKS names the
// directory with a typo (./playbook) or from the wrong working directory.
// Expected: the directory that cannot be read is an error, exit 2, nothing
// planned (docs/exit-codes.md: a playbook error is exit 2; the operator
// asked for overrides that cannot be applied).
//
// Observed: exit 0; the plan silently uses the built-in playbooks ("SIGKILL
// after 30s" instead of 2m0s), so every restart kills a draining service
// after 30 s. (A --playbooks naming a file does fail, exit 2.) Cause:
// playbooks/playbooks.go:load treats fs.ErrNotExist for each file as "no
// override", and LoadDir never checks that dir itself exists.
func TestReviewInvPlaybooksDirMissing(t *testing.T) {
	root := t.TempDir()
	real := filepath.Join(root, "playbooks")
	if err := os.Mkdir(real, 0o755); err != nil {
		t.Fatal(err)
	}
	restart := "name: restart\nsteps:\n  - step: check-deps\n  - step: stop\n    grace: 2m\n  - step: verify-stopped\n  - step: start\n  - step: health\n  - step: record\n"
	if err := os.WriteFile(filepath.Join(real, "restart.yaml"), []byte(restart), 0o644); err != nil {
		t.Fatal(err)
	}
	args := func(dir string) []string {
		return []string{"-i", "../examples/inventory.yaml", "--playbooks", dir,
			"service", "restart", "primary-bastion", "api-gateway", "--dry-run"}
	}
	// The real directory is read: the plan has the 2m grace.
	s, out, errOut := TestStreams("", false)
	if code := Run(context.Background(), args(real), s); code != ExitOK || !strings.Contains(out.String(), "SIGKILL after 2m0s") {
		t.Fatalf("with the real directory: exit %d, want 0 and a 2m grace\n%s%s", code, out, errOut)
	}
	// The typo.
	s, out, errOut = TestStreams("", false)
	code := Run(context.Background(), args(filepath.Join(root, "playbook")), s)
	if code != ExitUsage {
		t.Errorf("--playbooks naming a directory that does not exist: exit %d, want %d (usage); the plan it printed:\n%s%s", code, ExitUsage, out, errOut)
	}
}

// TestReviewInvHostNamedAllTargetsOneHost: the CLI side of
// inventory.TestReviewInvHostNamedAll. An inventory with a host named `all`
// (role `all` not written in roles:) loads, and `omni service restart all
// a --dry-run` plans the restart of host `all` alone, with the
// single-host plan, where docs/fleet.md says the target `all` is every
// host. Expected: exit 2 at load, naming the host `all`. Observed: exit 0
// and "Plan: restart a on all (playbook restart)", w1 left out. Cause:
// inventory/check.go:check (no host may be called AllRole) and
// inventory/select.go:selectOne (a host name is tried before "all").
func TestReviewInvHostNamedAllTargetsOneHost(t *testing.T) {
	dir := t.TempDir()
	inv := filepath.Join(dir, "inventory.yaml")
	content := `version: 1
defaults: {known_hosts: known_hosts}
hosts:
  all: {address: 10.0.0.1, roles: [web]}
  w1: {address: 10.0.0.2, roles: [web]}
roles:
  web: [a]
services:
  a: {manager: command, commands: {start: "true", status: "true"}}
`
	if err := os.WriteFile(inv, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	s, out, errOut := TestStreams("", false)
	code := Run(context.Background(), []string{"-i", inv, "service", "restart", "all", "a", "--dry-run"}, s)
	if code != ExitUsage {
		t.Errorf("exit %d, want %d (a host may not be called \"all\")\nstdout:\n%s\nstderr:\n%s", code, ExitUsage, out, errOut)
	}
}
