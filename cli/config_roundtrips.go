package cli

import (
	"fmt"
	"io"

	"github.com/omni-fleet/omni/engine"
	"github.com/omni-fleet/omni/engine/transport"
	"github.com/omni-fleet/omni/internal/plural"
)

// tripsCount is a host's round trips after authentication for a JSON
// document; nil when they were not counted.
func tripsCount(rt *transport.RoundTrips) *int {
	if rt == nil {
		return nil
	}
	n := rt.AfterAuth()
	return &n
}

// printHostTrips is one -v line: "web1: 2 round trips after
// authentication", with what they were for when said.
func printHostTrips(w io.Writer, host string, rt *transport.RoundTrips, what string) {
	if rt == nil {
		return
	}
	if what != "" {
		what = " (" + what + ")"
	}
	fmt.Fprintf(w, "%s: %s after authentication%s\n", host, plural.N(rt.AfterAuth(), "round trip", "round trips"), what)
}

// printApplyTrips is `config apply -v`'s round trips: per host, phase 1
// (reading, writing, the status reads and reloads), then each restart's
// own per host.
func printApplyTrips(w io.Writer, rep *engine.ConfigApplyReport, runs []*restartRun) {
	for _, h := range rep.Hosts {
		printHostTrips(w, h.Host, h.RoundTrips, "")
	}
	for _, r := range runs {
		if r.Report == nil {
			continue
		}
		for _, h := range r.Report.Hosts {
			if h.Outcome == nil {
				continue
			}
			if rt, ok := h.Outcome.RoundTrips[h.Host]; ok {
				printHostTrips(w, h.Host, &rt, "restart of "+r.Service)
			}
		}
	}
}
