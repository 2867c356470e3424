package registry

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// Store is the full service registry: records (Registry), the history of
// operations, and the run lock. Implementations: the embedded bbolt store
// (default, one file) and etcd (for teams running omni from several
// machines). Both pass the same conformance tests.
type Store interface {
	Registry

	// BeginEvent records an operation as it starts, marked incomplete, and
	// returns its ID. A run that dies (SIGKILL) leaves it incomplete.
	BeginEvent(ev Event) (string, error)
	// FinishEvent replaces the event ev.ID with its final form (Complete true).
	FinishEvent(ev Event) error
	// Events returns events, newest first, filtered by q.
	Events(q EventQuery) ([]Event, error)

	// Lock takes the run lock on every key (host/service pairs) for owner,
	// waiting up to wait (0: fail at once) for keys another live run holds.
	// A crashed run's lock is reclaimed (bbolt: its process is gone or its
	// heartbeat is stale; etcd: its lease expired). It returns a *LockedError
	// naming the holder when it cannot take them. The returned unlock
	// releases them; it is safe to call more than once.
	Lock(ctx context.Context, keys []string, owner Owner, wait time.Duration) (unlock func() error, err error)

	// LockLost is a context that ends, with a *LockLostError as its
	// cause (context.Cause), when a lock taken with this handle ends
	// while its run holds it, without its unlock: an etcd lease that
	// expired (the run cut off from etcd for its TTL) or was revoked.
	// Another run may then take its keys, so the run must touch no new
	// host. A bbolt lock is not lost while its process lives: the
	// context never ends.
	LockLost() context.Context

	// PutBlob keeps content under hash, its "sha256:HEX", for the history
	// and rollback of configuration files. It refuses content whose hash
	// is not hash, or larger than MaxBlobSize; putting the same blob again
	// does nothing. Callers never pass secret content: of a secret file
	// the registry keeps the hash only (ConfigFile.Secret).
	PutBlob(hash string, content []byte) error
	// Blob returns the content kept under hash; ok is false when there is
	// none. A blob whose content does not hash to hash (damaged) is an
	// error naming it, never returned as content.
	Blob(hash string) (content []byte, ok bool, err error)

	Close() error
}

// Event is one operation: who ran what, where, each step and the result.
type Event struct {
	ID       string      `json:"id"`
	Started  time.Time   `json:"started"`
	Finished time.Time   `json:"finished,omitzero"`
	Operator string      `json:"operator"` // user@machine
	Command  string      `json:"command"`  // "restart", "stop --cascade", ...
	Host     string      `json:"host"`
	Service  string      `json:"service"`
	Steps    []EventStep `json:"steps,omitempty"`
	Result   string      `json:"result"` // ok, unchanged, failed, refused, interrupted, unreachable; "incomplete" while running or if the run died
	Error    string      `json:"error,omitempty"`
	// Reason is the service's own last words when it failed to start
	// (the reason of the failed step's log tail).
	Reason   string `json:"reason,omitempty"`
	Complete bool   `json:"complete"`

	// A fleet run (a target of several hosts) records one event of its own
	// and one event per host it acted on; the host events carry its ID in
	// Run. The fleet event has no Host but the Target as given and, once
	// finished, each host's result (done, unchanged, failed, unreachable,
	// interrupted, untouched). `--resume` reads them.
	Run    string       `json:"run,omitempty"`
	Target string       `json:"target,omitempty"`
	Hosts  []HostResult `json:"hosts,omitempty"`
	// HostEvents: each of Hosts names the host's own event in the run
	// (HostResult.Event), "" when it has none. Runs recorded before omni
	// named them leave it false.
	HostEvents bool `json:"host_events,omitempty"`

	// Config is what the operation did to managed configuration files
	// (config apply, rollback, a start that applied first): hashes only.
	Config []ConfigChange `json:"config,omitempty"`
}

// HostResult is how a fleet run left one host.
type HostResult struct {
	Host   string `json:"host"`
	Result string `json:"result"`
	Error  string `json:"error,omitempty"`
	// Event is the ID of the host's own event in the run, "" when the
	// run recorded none for it (a host left untouched, or found
	// unreachable before its turn): the run's event is then the one that
	// says what became of the host.
	Event string `json:"event,omitempty"`
}

// EventStep is one step of an operation.
type EventStep struct {
	Step     string        `json:"step"`
	Host     string        `json:"host"`
	Service  string        `json:"service"`
	Result   string        `json:"result"` // ok, failed, skipped
	Note     string        `json:"note,omitempty"`
	Error    string        `json:"error,omitempty"`
	Duration time.Duration `json:"duration_ns"`
	// The log tail of a failed start (or of a failed health check right
	// after one): the service's last words (Reason), the last lines of its
	// log, or why they could not be read.
	Reason       string   `json:"reason,omitempty"`
	LogTail      []string `json:"log_tail,omitempty"`
	LogTailError string   `json:"log_tail_error,omitempty"`
}

// EventQuery filters Events. Zero values match everything.
type EventQuery struct {
	// Hosts keeps the events about any of these hosts (none: every host).
	// An event is about a host when it is the event's host or one of its
	// steps' hosts; a finished fleet run's own event is about the hosts it
	// recorded no host event for (HostResult.Event), whose end (untouched,
	// unreachable before their turn) only it says.
	Hosts   []string
	Service string
	Since   time.Time
	Limit   int // 0: no limit
	// ConfigOnly keeps the events that changed configuration: one of
	// their Config entries has an Action other than ConfigUnchanged.
	ConfigOnly bool
}

// Owner identifies a run holding locks.
type Owner struct {
	Operator string    `json:"operator"` // user@machine
	PID      int       `json:"pid"`
	Machine  string    `json:"machine"` // hostname, for stale detection of local PIDs
	Command  string    `json:"command"`
	Since    time.Time `json:"since"`
}

// LockedError is a lock another run holds: exit code 5.
type LockedError struct {
	Key    string
	Holder Owner
	// Unreadable is why the holder's lock record could not be read (not
	// JSON, or naming no holder: written by hand or by another tool);
	// Holder is then zero.
	Unreadable error
}

func (e *LockedError) Error() string {
	if e.Unreadable != nil {
		return fmt.Sprintf("%s is locked by an unknown holder (its lock record could not be read: %v)", e.Key, e.Unreadable)
	}
	return fmt.Sprintf("%s is locked by %s (pid %d on %s, %q) since %s", e.Key, e.Holder.Operator, e.Holder.PID,
		e.Holder.Machine, e.Holder.Command, e.Holder.Since.UTC().Format("2006-01-02 15:04:05 UTC"))
}

// LockLostError is a run lock that ended while its run held it (see
// Store.LockLost).
type LockLostError struct {
	Keys []string // HOST/SERVICE
	Why  string   // "etcd lease ended: ..."
}

func (e *LockLostError) Error() string {
	keys := e.Keys
	more := ""
	if len(keys) > 3 {
		keys, more = keys[:3], fmt.Sprintf(" and %d more", len(e.Keys)-3)
	}
	return fmt.Sprintf("lost its lock on %s%s (%s)", strings.Join(keys, ", "), more, e.Why)
}

// LockKey is the lock key of a service on a host.
func LockKey(host, service string) string { return host + "/" + service }
