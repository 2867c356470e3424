package cli

import (
	"strings"
	"testing"

	"github.com/omni-fleet/omni/engine"
	"github.com/omni-fleet/omni/inventory"
)

// TestConfirmWords: the confirmation names the service as the inventory
// spells it ("network-agent is a critical service.", not "Network-agent"),
// and speaks of one dependent as one.
func TestConfirmWords(t *testing.T) {
	plan := &engine.Plan{Host: &inventory.Host{Name: "worker1"}, Service: &inventory.Service{Name: "network-agent"}}
	c := engine.Confirmation{Reason: "network-agent is a critical service", Cascade: true,
		Running: []engine.Instance{{Host: "worker1", Service: "container-runtime"}}}
	s, out, _ := TestStreams("", false)
	if err := confirm(t.Context(), s, plan, c, true); err != nil {
		t.Fatal(err)
	}
	got := out.String()
	for _, want := range []string{"network-agent is a critical service.\n", "--cascade: it will be stopped first.\n"} {
		if !strings.Contains(got, want) {
			t.Errorf("confirmation %q lacks %q", got, want)
		}
	}
}
