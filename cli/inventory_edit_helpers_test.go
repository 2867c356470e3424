package cli

import (
	"os"
	"strings"
	"testing"

	"github.com/omni-fleet/omni/internal/testkit/testfleet"
)

// replaceInInventory replaces the first old in f's inventory by new; old
// must be there.
func replaceInInventory(t *testing.T, f *testfleet.Fleet, old, new string) {
	t.Helper()
	b, err := os.ReadFile(f.Inventory)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), old) {
		t.Fatalf("%q is not in the inventory", old)
	}
	writeFile(t, f.Inventory, strings.Replace(string(b), old, new, 1))
}
