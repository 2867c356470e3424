package cli

import (
	"fmt"
	"io"
	"slices"

	"github.com/omni-fleet/omni/engine"
)

// roundTrips is an Outcome's round trips after authentication, by host,
// for the JSON documents (round_trips); nil when none were counted.
func roundTrips(out *engine.Outcome) map[string]int {
	if out == nil || len(out.RoundTrips) == 0 {
		return nil
	}
	m := make(map[string]int, len(out.RoundTrips))
	for host, rt := range out.RoundTrips {
		m[host] = rt.AfterAuth()
	}
	return m
}

// printRoundTrips says, for --verbose, how many round trips each host of
// the run waited for after authentication: "worker1: 7 round trips after
// authentication", hosts in name order.
func printRoundTrips(w io.Writer, out *engine.Outcome) {
	counts := roundTrips(out)
	hosts := make([]string, 0, len(counts))
	for host := range counts {
		hosts = append(hosts, host)
	}
	slices.Sort(hosts)
	for _, host := range hosts {
		fmt.Fprintf(w, "%s: %s after authentication\n", host, plural(counts[host], "round trip", "round trips"))
	}
}
