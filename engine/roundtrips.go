package engine

import "github.com/omni-fleet/omni/engine/transport"

// RoundTripCounter is a Conn that counts the round trips its connection
// has waited for (transport.RoundTrips). The SSH connector's connections
// are; a Conn that is not reports nothing.
type RoundTripCounter interface {
	RoundTrips() transport.RoundTrips
}

// RoundTrips implements RoundTripCounter.
func (s sshConn) RoundTrips() transport.RoundTrips { return s.client.RoundTrips() }

// countRoundTrips reads, at the end of a run and before its connections
// are released, the round trips of every host the run used into the
// Outcome. A connection counts from when it was made: in one run of
// omni, which makes its own, that is the run's work on the host (the
// shell's end, when the connection is let go, comes after and is not in
// it); a connection other runs share at the same time counts theirs too.
func (r *execution) countRoundTrips() {
	r.conns.each(func(host string, c Conn) {
		rc, ok := unwrapConn(c).(RoundTripCounter)
		if !ok {
			return
		}
		if r.out.RoundTrips == nil {
			r.out.RoundTrips = map[string]transport.RoundTrips{}
		}
		r.out.RoundTrips[host] = rc.RoundTrips()
	})
}

// roundTripsOf is what c's connection has waited for so far; nil when it
// does not count (not an SSH connection).
func roundTripsOf(c Conn) *transport.RoundTrips {
	rc, ok := unwrapConn(c).(RoundTripCounter)
	if !ok {
		return nil
	}
	rt := rc.RoundTrips()
	return &rt
}
