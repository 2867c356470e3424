package cli

import (
	"context"
	"strings"
	"testing"

	"github.com/omni-fleet/omni/inventory"
)

// TestZeroBatchAndMaxUnavailableAreRefused: --batch 0 and --max-unavailable
// 0 (or 0%) are usage errors (exit 2) naming the flag, not silently 1; a
// share that rounds down to 0 hosts still means 1.
func TestZeroBatchAndMaxUnavailableAreRefused(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--batch", "0"}, "omni: --batch must be at least 1 (got 0)"},
		{[]string{"--batch", "0%"}, "omni: --batch must be at least 1 (got 0%)"},
		{[]string{"--max-unavailable", "0"}, "omni: --max-unavailable must be at least 1 (got 0)"},
		{[]string{"--max-unavailable", "0%"}, "omni: --max-unavailable must be at least 1 (got 0%)"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			s, out, errOut := TestStreams("", false)
			args := append([]string{"-i", "../examples/inventory.yaml", "service", "restart", "worker", "container-runtime", "--rolling", "--dry-run", "--yes"}, tc.args...)
			if code := Run(context.Background(), args, s); code != ExitUsage {
				t.Fatalf("exit %d, want 2\n%s%s", code, out, errOut)
			}
			if !strings.HasPrefix(errOut.String(), tc.want) {
				t.Fatalf("stderr %q, want prefix %q", errOut, tc.want)
			}
		})
	}
	fo, err := fleetOptions(&serviceOptions{Action: "restart", Batch: "10%", MaxUnavailable: "10%", MaxFailures: "0", Forks: 5}, &inventory.Service{Name: "x"}, 5)
	if err != nil || fo.Batch != 1 || fo.MaxUnavailable != 1 {
		t.Fatalf("10%% of 5 hosts: batch %d, max-unavailable %d, err %v; want 1, 1", fo.Batch, fo.MaxUnavailable, err)
	}
}
