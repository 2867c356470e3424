package lab

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/omni-fleet/omni/registry"
)

// TestLabRegistryIsRegistryDB: the lab's registry is a bbolt file and is
// named so (registry.db, not state.json); what an older lab left under the
// old name is removed with the rest.
func TestLabRegistryIsRegistryDB(t *testing.T) {
	if registryFile != "registry.db" {
		t.Fatalf("the lab registry is named %q", registryFile)
	}
	dir := filepath.Join(t.TempDir(), "lab")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	// A real registry under each name, as a lab of each era made it.
	for _, name := range []string{registryFile, legacyRegistryFile} {
		st, err := registry.Open(context.Background(), filepath.Join(dir, name), nil)
		if err != nil {
			t.Fatal(err)
		}
		st.Close()
	}
	if err := removeLabFiles(dir, false); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		entries, _ := os.ReadDir(dir)
		t.Fatalf("lab directory left with %v", entries)
	}
}
