package cli

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestPlaybooksDirMissingIsUsageError: a team keeps a restart.yaml override
// that gives every service 2 minutes to drain (docs/playbooks.md's own
// example) in ./playbooks, and the cron line or OMNI_PLAYBOOKS names the
// directory with a typo (./playbook). That is an error naming the
// directory, exit 2, nothing planned. It was exit 0, the plan silently
// using the built-in playbooks (SIGKILL after 30s instead of 2m0s) (found
// by review).
func TestPlaybooksDirMissingIsUsageError(t *testing.T) {
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
	typo := filepath.Join(root, "playbook")
	s, out, errOut = TestStreams("", false)
	code := Run(context.Background(), args(typo), s)
	if code != ExitUsage || out.Len() != 0 || !strings.Contains(errOut.String(), "playbooks directory "+typo+" does not exist") {
		t.Errorf("--playbooks naming a directory that does not exist: exit %d, want %d (usage) and the directory named, nothing planned\nstdout:\n%s\nstderr:\n%s", code, ExitUsage, out, errOut)
	}
}
