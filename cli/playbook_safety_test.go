package cli

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestPlaybookOverrideWithoutConfirmIsRefused: a --playbooks directory whose
// stop.yaml drops the confirmation stops nothing: the run exits 2 with
// FILE:LINE before any plan is made.
func TestPlaybookOverrideWithoutConfirmIsRefused(t *testing.T) {
	dir := t.TempDir()
	stop := filepath.Join(dir, "stop.yaml")
	if err := os.WriteFile(stop, []byte("name: stop\nsteps:\n  - step: stop\n  - step: verify-stopped\n  - step: record\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	s, out, errOut := TestStreams("", false)
	code := Run(context.Background(), []string{"-i", "../examples/inventory.yaml", "--playbooks", dir,
		"service", "stop", "worker1", "container-runtime", "--dry-run"}, s)
	if code != ExitUsage {
		t.Fatalf("exit %d, want 2\n%s%s", code, out, errOut)
	}
	if want := "omni: " + stop + `:2: the stop playbook has no "confirm" step`; !strings.HasPrefix(errOut.String(), want) {
		t.Fatalf("stderr:\n%s\nwant prefix: %s", errOut, want)
	}
	if out.Len() != 0 {
		t.Fatalf("a plan was printed:\n%s", out)
	}
}
