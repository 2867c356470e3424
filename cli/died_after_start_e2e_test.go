package cli

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/omni-fleet/omni/internal/testkit/testfleet"
)

// TestDiedAfterStartIsExplained: a service that passes its first process
// check, then dies before its port answers (docs/json.md: "reason ... when
// the service failed to start, or died right after its start: its own
// last words"), carries its reason, and its status block does not say
// "never seen running" of a service omni saw run (registry.md:
// last_active is "the last time omni saw it running"). (Found by an
// adversarial review.)
func TestDiedAfterStartIsExplained(t *testing.T) {
	t.Parallel()
	f := testfleet.Start(t, testfleet.Options{BastionAddr: "127.0.9.3", WorkerAddr: "127.0.9.4",
		Extra: []testfleet.Service{{Name: "crash", Role: "bastion", Keys: "requires: [network-agent]", Flags: "--exit-after 100ms"}}})
	out, errOut, code := omni(t, f, "-o", "json", "service", "start", "primary-bastion", "crash")
	if code != ExitFailed {
		t.Fatalf("exit %d, want 1\n%s\n%s", code, out, errOut)
	}
	var doc struct {
		Reason string `json:"reason"`
		Status struct {
			State string `json:"state"`
		} `json:"status"`
		Health struct {
			Checks []struct {
				Check  string `json:"check"`
				Passed bool   `json:"passed"`
			} `json:"checks"`
		} `json:"health"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatal(err, out)
	}
	processPassed := false
	for _, c := range doc.Health.Checks {
		processPassed = processPassed || (c.Check == "process" && c.Passed)
	}
	if doc.Status.State == "stopped" && processPassed && doc.Reason == "" {
		t.Errorf("the service died right after its start (process check passed, final state stopped) but the document has no `reason`:\n%s", out)
	}
	out, _, _ = omni(t, f, "service", "start", "primary-bastion", "crash")
	if strings.Contains(out, "never seen running") {
		t.Errorf("status block says \"never seen running\" of a service whose process check omni saw pass:\n%s", out)
	}
}
