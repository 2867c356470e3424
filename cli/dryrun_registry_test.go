package cli

import (
	"os"
	"path/filepath"
	"testing"
)

// A --dry-run changes nothing, the registry included: neither the one-host
// form nor a fleet's creates the registry's directory or file, and a
// damaged registry does not stand in the way of either (no host is
// contacted: the example inventory's addresses are never dialled).
func TestDryRunLeavesTheRegistryAlone(t *testing.T) {
	dir := t.TempDir()
	reg := filepath.Join(dir, "state", "registry.db")
	bad := filepath.Join(dir, "bad.db")
	if err := os.WriteFile(bad, []byte("garbage\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, target := range []string{"worker1", "worker", "all"} {
		for _, action := range []string{"restart", "stop", "start"} {
			for _, path := range []string{reg, bad} {
				s, out, errOut := TestStreams("", false)
				args := []string{"-i", "../examples/inventory.yaml", "--registry", path, "service", action, target, "storage-agent", "--dry-run"}
				if code := Run(t.Context(), args, s); code != 0 {
					t.Errorf("%v: exit %d\n%s\n%s", args, code, out, errOut)
				}
			}
			if _, err := os.Stat(filepath.Join(dir, "state")); err == nil {
				t.Fatalf("%s %s --dry-run created the registry's directory", action, target)
			}
		}
	}
	if b, err := os.ReadFile(bad); err != nil || string(b) != "garbage\n" {
		t.Errorf("the damaged registry was changed: %q, %v", b, err)
	}
}
