package cli

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestInventoryCheckHostile runs `omni inventory check` on inventories a
// pull request could bring: a merge of the mapping it sits in (a Go stack
// overflow after 1 GiB before the bounds), merges that double at every
// line (minutes before), and a file without end. Each exits 2 within 2 s,
// stderr starting with FILE:LINE (FILE: for the size, which has no line).
func TestInventoryCheckHostile(t *testing.T) {
	var chain strings.Builder
	chain.WriteString("version: 1\nhosts:\n  h0: &h0 {address: a, roles: [r]}\n")
	for i := 1; i <= 40; i++ {
		fmt.Fprintf(&chain, "  h%d: &h%d {<<: [*h%d, *h%d]}\n", i, i, i-1, i-1)
	}
	dir := t.TempDir()
	write := func(name, content string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	for _, tc := range []struct{ path, prefix string }{
		{write("self.yaml", "version: 1\ndefaults: &d\n  sudo: true\n  <<: *d\n"), ":4: merge (<<) of *d refers to a mapping that contains it"},
		{write("chain.yaml", chain.String()), ":17: merge (<<) of *h13 makes the inventory too large"},
		{"/dev/zero", ": the inventory is larger than 1048576 bytes"},
	} {
		s, _, errOut := TestStreams("", false)
		start := time.Now()
		code := Run(context.Background(), []string{"-i", tc.path, "inventory", "check"}, s)
		if took := time.Since(start); took > 2*time.Second {
			t.Errorf("%s: took %v, want under 2s", tc.path, took)
		}
		if code != ExitUsage {
			t.Errorf("%s: exit %d, want %d", tc.path, code, ExitUsage)
		}
		if want := tc.path + tc.prefix; !strings.HasPrefix(errOut.String(), want) {
			t.Errorf("stderr:\n%s\nwant it to start with %q", errOut, want)
		}
	}
}
