package cli

import (
	"fmt"
	"io"
	"slices"

	"github.com/omni-fleet/omni/engine/transport"
	"github.com/omni-fleet/omni/internal/plural"
)

// roundTrips is the round trips after authentication, by host, for the
// JSON documents (round_trips); nil when none were counted.
func roundTrips(counts map[string]transport.RoundTrips) map[string]int {
	if len(counts) == 0 {
		return nil
	}
	m := make(map[string]int, len(counts))
	for host, rt := range counts {
		m[host] = rt.AfterAuth()
	}
	return m
}

// printRoundTrips says, for --verbose, how many round trips each host of
// the run waited for after authentication: "worker1: 7 round trips after
// authentication", hosts in name order.
func printRoundTrips(w io.Writer, trips map[string]transport.RoundTrips) {
	counts := roundTrips(trips)
	hosts := make([]string, 0, len(counts))
	for host := range counts {
		hosts = append(hosts, host)
	}
	slices.Sort(hosts)
	for _, host := range hosts {
		fmt.Fprintf(w, "%s: %s\n", host, roundTripLine(trips[host]))
	}
}

// roundTripLine is what --verbose says of one host's round trips: "7 round
// trips after authentication", and "(via the persistent connection)" when
// the run used a master's connection (no connect, key exchange or login).
func roundTripLine(rt transport.RoundTrips) string {
	line := plural.N(rt.AfterAuth(), "round trip", "round trips") + " after authentication"
	if rt.Persistent {
		line += " (via the persistent connection)"
	}
	return line
}
