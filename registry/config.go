package registry

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"
)

// ConfigState is what omni keeps of one service's managed configuration
// on one host (Record.Config): hashes and attributes, never content.
// Content of non-secret files is kept apart, by hash, as blobs (PutBlob).
type ConfigState struct {
	// Applied is the hash of the whole configuration set omni last wrote
	// to the host ("sha256:HEX").
	Applied string       `json:"applied"`
	Files   []ConfigFile `json:"files,omitempty"`
	// RunningWith is the set hash the service was last started or
	// restarted with; "" when unknown (started before omni managed its
	// configuration, or by something else than omni).
	RunningWith string `json:"running_with,omitempty"`
	// Pending: the service owes a restart or reload: the apply's restart
	// failed or was skipped, or the files changed after it started.
	// PendingReason says which, for people.
	Pending       bool      `json:"pending,omitempty"`
	PendingReason string    `json:"pending_reason,omitempty"`
	AppliedAt     time.Time `json:"applied_at,omitzero"`
	AppliedBy     string    `json:"applied_by,omitempty"` // the event ID of the run that applied it
	// Unknown: see Record.Unknown.
	Unknown Unknown `json:"-"`
}

// UnmarshalJSON keeps the members this omni does not know in Unknown.
func (c *ConfigState) UnmarshalJSON(b []byte) error {
	type plain ConfigState
	var p plain
	u, err := decodeKeeping(b, &p)
	if err != nil {
		return err
	}
	*c = ConfigState(p)
	c.Unknown = u
	return nil
}

// MarshalJSON writes Unknown back after the members this omni knows.
func (c ConfigState) MarshalJSON() ([]byte, error) {
	type plain ConfigState
	return encodeKeeping(plain(c), c.Unknown)
}

// ConfigFile is one file of an applied configuration.
type ConfigFile struct {
	Path string `json:"path"`
	Kind string `json:"kind"` // "env", "dropin", "file"
	Hash string `json:"hash"` // of its content, "sha256:HEX"
	// Secret: its content is secret: omni keeps its hash, never a blob.
	Secret bool `json:"secret,omitempty"`
}

// MarkPending records that the service owes a restart or reload, and why.
func (c *ConfigState) MarkPending(reason string) {
	c.Pending, c.PendingReason = true, reason
}

// MarkRunning records that the service was just started or restarted
// with the applied configuration: it runs with Applied, nothing is owed.
func (c *ConfigState) MarkRunning() {
	c.RunningWith, c.Pending, c.PendingReason = c.Applied, false, ""
}

// ConfigChange is what an operation did to one managed file (Event.Config).
type ConfigChange struct {
	Path string `json:"path"`
	Kind string `json:"kind"`
	// Old and New are content hashes ("sha256:HEX"; "" for a file that
	// did not exist, or does not any more).
	Old    string `json:"old,omitempty"`
	New    string `json:"new,omitempty"`
	Secret bool   `json:"secret,omitempty"`
	// OldSecret: the old side held a secret (omni had written the file
	// there with secret content or keys) though the new one does not:
	// Old is never printed either.
	OldSecret bool   `json:"old_secret,omitempty"`
	Action    string `json:"action"` // one of the Config* actions
	// OldMode ("0644"), OldOwner and OldGroup are the file's attributes
	// before the change, when it existed (recorded since 2026-12-05; a
	// rollback puts them back).
	OldMode  string `json:"old_mode,omitempty"`
	OldOwner string `json:"old_owner,omitempty"`
	OldGroup string `json:"old_group,omitempty"`
}

// The actions of a ConfigChange.
const (
	ConfigWritten    = "written"     // the content was written
	ConfigAttrs      = "attrs"       // only mode or owner were changed
	ConfigUnchanged  = "unchanged"   // nothing to do
	ConfigRolledBack = "rolled back" // a rollback put back an earlier content, or only an earlier mode/owner
	ConfigRemoved    = "removed"     // the file was removed
)

// SkipUpdate, returned by an Update's fn, leaves the record as it is.
var SkipUpdate = errors.New("registry: update skipped")

// MaxBlobSize is the largest blob PutBlob keeps: 1 MiB, below etcd's
// default request limit (1.5 MiB) with room for the key.
const MaxBlobSize = 1 << 20

// blobHash is the hash of content as omni writes it: "sha256:HEX" (the
// same as engine/config.HashBytes).
func blobHash(content []byte) string {
	sum := sha256.Sum256(content)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// checkBlob is PutBlob's check: a well-formed hash that is content's, and
// a size within MaxBlobSize.
func checkBlob(hash string, content []byte) error {
	if err := checkHash(hash); err != nil {
		return err
	}
	if len(content) > MaxBlobSize {
		return fmt.Errorf("registry: blob %s is %d bytes, more than the %d (1 MiB) the registry keeps", hash, len(content), MaxBlobSize)
	}
	if got := blobHash(content); got != hash {
		return fmt.Errorf("registry: blob %s refused: its content hashes to %s", hash, got)
	}
	return nil
}

// checkHash checks that hash reads "sha256:" and 64 lowercase hex digits.
func checkHash(hash string) error {
	const prefix = "sha256:"
	ok := len(hash) == len(prefix)+64 && hash[:len(prefix)] == prefix
	for i := len(prefix); ok && i < len(hash); i++ {
		c := hash[i]
		ok = c >= '0' && c <= '9' || c >= 'a' && c <= 'f'
	}
	if !ok {
		return fmt.Errorf("registry: %q is not a content hash (sha256: and 64 lowercase hex digits)", hash)
	}
	return nil
}

// verifyBlob checks content read back under hash: a blob whose content
// does not hash to its name is damaged, and never returned.
func verifyBlob(where, hash string, content []byte) ([]byte, error) {
	if got := blobHash(content); got != hash {
		return nil, fmt.Errorf("%s: blob %s is damaged: its content (%d bytes) hashes to %s", where, hash, len(content), got)
	}
	return content, nil
}

// changedConfig says whether an event changed any configuration: one of
// its Config entries did something (EventQuery.ConfigOnly).
func changedConfig(ev *Event) bool {
	for _, c := range ev.Config {
		if c.Action != ConfigUnchanged {
			return true
		}
	}
	return false
}
