package registry

// TEMPORARY: the config state the registry helper of issue 18 delivers;
// deleted once it lands on main.

import "time"

// ConfigState is a service's configuration as omni last wrote it.
type ConfigState struct {
	Applied       string       `json:"applied,omitempty"`
	Files         []ConfigFile `json:"files,omitempty"`
	RunningWith   string       `json:"running_with,omitempty"`
	Pending       bool         `json:"pending,omitempty"`
	PendingReason string       `json:"pending_reason,omitempty"`
	AppliedAt     time.Time    `json:"applied_at,omitzero"`
	AppliedBy     string       `json:"applied_by,omitempty"`
}

// ConfigFile is one managed file, by hash.
type ConfigFile struct {
	Path   string `json:"path"`
	Kind   string `json:"kind"`
	Hash   string `json:"hash"`
	Secret bool   `json:"secret,omitempty"`
}

// ConfigChange is one file an apply changed.
type ConfigChange struct {
	Path   string `json:"path"`
	Kind   string `json:"kind"`
	Old    string `json:"old,omitempty"`
	New    string `json:"new,omitempty"`
	Secret bool   `json:"secret,omitempty"`
	Action string `json:"action"`
}

// The actions of a ConfigChange.
const (
	ConfigWritten   = "written"
	ConfigAttrs     = "attrs"
	ConfigUnchanged = "unchanged"
)
