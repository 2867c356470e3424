package cli

import (
	"context"
	"path/filepath"
	"testing"
)

// TestHistoryRefusesNegativeBounds (found by review): an operator mistypes the
// history's bounds, `omni service history --since=-24h` (meaning "the
// last day") or `--limit=-5`.
//
// The standard for bad input is a clear error, exit 2 (docs/exit-codes.md:
// "bad flags"), as omni gives for `--limit x`. omni used to accept both
// silently and print the whole history, unbounded: a negative --since was
// taken as no bound (historyRun: `if since > 0`), a negative --limit as
// none (registry.EventQuery.Limit: only > 0 limits), so the operator read
// every event ever recorded as if it were the last day's. (cli/statuscmd.go:
// historyRun validated neither.)
func TestHistoryRefusesNegativeBounds(t *testing.T) {
	reg := filepath.Join(t.TempDir(), "registry.db")
	for _, flag := range []string{"--since=-24h", "--limit=-5"} {
		s, out, errOut := TestStreams("", false)
		code := Run(context.Background(), []string{"-i", "../examples/inventory.yaml", "--registry", reg, "service", "history", flag}, s)
		if code != ExitUsage {
			t.Errorf("omni service history %s: exit %d, want 2 with a clear error\nstdout:\n%s\nstderr:\n%s", flag, code, out.String(), errOut.String())
		}
	}
}
