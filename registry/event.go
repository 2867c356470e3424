package registry

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"time"
)

// ResultIncomplete is the Result of an event that was begun and not (yet)
// finished: the run is still going, or it died.
const ResultIncomplete = "incomplete"

// idTimeLayout is the time part of an event ID: fixed width, UTC, so the
// byte order of IDs is the order of their start times.
const idTimeLayout = "20060102T150405.000000000Z"

// eventID is the ID of an event started at started: its start time, then a
// suffix that tells apart events started in the same nanosecond (a store
// sequence in bbolt, a checked random number in etcd). Both stores keep
// events under their ID, so a reverse scan of the keys is newest first.
func eventID(started time.Time, suffix uint32) string {
	return started.UTC().Format(idTimeLayout) + fmt.Sprintf("-%08x", suffix)
}

// sinceKey is the smallest event ID of an event started at or after t.
func sinceKey(t time.Time) string { return t.UTC().Format(idTimeLayout) }

// beginning is ev as BeginEvent stores it: started (now when unset),
// incomplete.
func beginning(ev Event) Event {
	if ev.Started.IsZero() {
		ev.Started = time.Now()
	}
	if y := ev.Started.UTC().Year(); y < 1000 || y > 9999 {
		ev.Started = time.Now() // keeps IDs fixed width, hence sortable
	}
	ev.Complete = false
	ev.Result = ResultIncomplete
	return ev
}

// finishing is ev as FinishEvent stores it over old: complete, finished
// (now when unset), with old's start time when ev has none.
func finishing(ev, old Event) Event {
	if ev.Started.IsZero() {
		ev.Started = old.Started
	}
	if ev.Finished.IsZero() {
		ev.Finished = time.Now()
	}
	ev.Complete = true
	return ev
}

// matches says whether ev passes the filters of q other than Limit. An
// event matches a host (and service) when the event itself is about it,
// when one of its steps is (a cascade started on one service shows in the
// history of every service it touched), or when it is a finished fleet
// run that recorded no event of the host's own (EventQuery.Hosts): the
// host was left untouched, failed the run's preflight, or was found
// unreachable before its turn. (A run recorded before HostEvents names no
// host events: there only its untouched and unreachable hosts can lack
// one.)
func (q EventQuery) matches(ev *Event) bool {
	if !q.Since.IsZero() && ev.Started.Before(q.Since) {
		return false
	}
	if q.ConfigOnly && !changedConfig(ev) {
		return false
	}
	if len(q.Hosts) == 0 && q.Service == "" {
		return true
	}
	if q.about(ev.Host, ev.Service) {
		return true
	}
	for _, s := range ev.Steps {
		if q.about(s.Host, s.Service) {
			return true
		}
	}
	for _, h := range ev.Hosts {
		noEvent := h.Event == "" && (ev.HostEvents || h.Result == "untouched" || h.Result == "unreachable")
		if ev.Complete && noEvent && q.about(h.Host, ev.Service) {
			return true
		}
	}
	return false
}

func (q EventQuery) about(host, service string) bool {
	return (len(q.Hosts) == 0 || slices.Contains(q.Hosts, host)) && (q.Service == "" || q.Service == service)
}

// mayMatch returns a quick test on an encoded event: false when it cannot
// match q because the host or service asked for occurs nowhere in it. It
// spares decoding most events of a long history; matches decides.
func (q EventQuery) mayMatch() func(v []byte) bool {
	// Each group of needles: one of them must occur. Encoded as in the
	// event.
	var groups [][][]byte
	if len(q.Hosts) > 0 && len(q.Hosts) <= 16 { // more: a role's hosts, decoded
		var hosts [][]byte
		for _, h := range q.Hosts {
			b, _ := json.Marshal(h)
			hosts = append(hosts, b)
		}
		groups = append(groups, hosts)
	}
	if q.Service != "" {
		b, _ := json.Marshal(q.Service)
		groups = append(groups, [][]byte{b})
	}
	if q.ConfigOnly {
		groups = append(groups, [][]byte{[]byte(`"config":`)})
	}
	return func(v []byte) bool {
		for _, g := range groups {
			if !slices.ContainsFunc(g, func(n []byte) bool { return bytes.Contains(v, n) }) {
				return false
			}
		}
		return true
	}
}
