package registry

import (
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// Record is what the registry knows of one service on one host.
type Record struct {
	Host       string    `json:"host"`
	Service    string    `json:"service"`
	State      string    `json:"state"`                // "running", "stopped", "failed", ...
	Since      time.Time `json:"since,omitzero"`       // when it entered State
	LastActive time.Time `json:"last_active,omitzero"` // last time it was seen running
	Health     string    `json:"health,omitempty"`     // "passed", "failed: ...", "degraded: ..." (an optional reach check failed), "" when not checked
	UpdatedAt  time.Time `json:"updated_at"`           // when omni wrote this record
	// Drained: a run set the service's load-balancer server to drain and
	// has not set it ready again (nil: not drained).
	Drained *Drained `json:"drained,omitempty"`
	// Config is the service's managed configuration on the host as omni
	// last wrote it (nil: omni never applied any). See ConfigState.
	Config *ConfigState `json:"config,omitempty"`
	// Unknown is what a newer omni recorded that this one does not know:
	// kept as it is when the record is written back.
	Unknown Unknown `json:"-"`
}

// UnmarshalJSON keeps the members this omni does not know in Unknown.
func (r *Record) UnmarshalJSON(b []byte) error {
	type plain Record
	var p plain
	u, err := decodeKeeping(b, &p)
	if err != nil {
		return err
	}
	*r = Record(p)
	r.Unknown = u
	return nil
}

// MarshalJSON writes Unknown back after the members this omni knows.
func (r Record) MarshalJSON() ([]byte, error) {
	type plain Record
	return encodeKeeping(plain(r), r.Unknown)
}

// Drained is a drain a run put on a service's server in a load balancer
// (the drain step), until a run sets it ready again (the undrain step).
type Drained struct {
	Server string    `json:"server"` // "lb1: be_api/web1"
	Since  time.Time `json:"since"`
	Run    string    `json:"run,omitempty"` // the event ID of the run that drained it
	// Unknown: see Record.Unknown.
	Unknown Unknown `json:"-"`
}

// UnmarshalJSON keeps the members this omni does not know in Unknown.
func (d *Drained) UnmarshalJSON(b []byte) error {
	type plain Drained
	var p plain
	u, err := decodeKeeping(b, &p)
	if err != nil {
		return err
	}
	*d = Drained(p)
	d.Unknown = u
	return nil
}

// MarshalJSON writes Unknown back after the members this omni knows.
func (d Drained) MarshalJSON() ([]byte, error) {
	type plain Drained
	return encodeKeeping(plain(d), d.Unknown)
}

// Registry stores records. Implementations are safe for use by several
// processes at once.
type Registry interface {
	// Get returns the record of (host, service); ok is false when there is none.
	Get(host, service string) (rec Record, ok bool, err error)
	// Put replaces the record of (rec.Host, rec.Service) wholesale. A
	// writer that owns only some fields of a record uses Update, so that
	// it keeps the fields others wrote (Drained, Config).
	Put(rec Record) error
	// Update reads the record of (host, service), lets fn change it and
	// writes it back, all in one transaction (bbolt) or one
	// compare-and-swap (etcd, retried while another writer got between):
	// no write of another run or process is lost in between, and a crash
	// leaves the record as it was before or after. fn gets the record
	// (Host and Service set, the rest zero when exists is false) and may
	// run more than once: it must only change rec and variables it sets
	// afresh on each call, and must not call the store (it runs inside
	// the transaction). An error from fn writes nothing and is
	// returned; SkipUpdate writes nothing and Update returns nil. Update
	// returns the record as written (or as read, after SkipUpdate).
	Update(host, service string, fn func(rec *Record, exists bool) error) (Record, error)
	// List returns every record, ordered by host then service.
	List() ([]Record, error)
}

// DefaultPath is where the embedded store lives by default:
// $XDG_STATE_HOME/omni/registry.db, or ~/.local/state/omni/registry.db.
func DefaultPath() (string, error) {
	if dir := os.Getenv("XDG_STATE_HOME"); dir != "" {
		return filepath.Join(dir, "omni", "registry.db"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("registry: no state directory: %w", err)
	}
	return filepath.Join(home, ".local", "state", "omni", "registry.db"), nil
}

// File is a Registry kept in one JSON file: records only, no history, no
// locks. It remains for the callers not yet moved to Store (OpenFile);
// new code uses Open.
