package config

import (
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"sort"
	"strings"
	"time"
)

// Kind is what a managed file was rendered from.
type Kind string

// The kinds of managed files.
const (
	KindEnv    Kind = "env"    // the environment file, from env:
	KindDropin Kind = "dropin" // UNIT.d/50-omni.conf, from dropin: (and the environment file's wiring)
	KindFile   Kind = "file"   // one entry of files:
)

// What a change of a file asks of its service (File.OnChange).
const (
	OnChangeRestart = "restart"
	OnChangeReload  = "reload"
	OnChangeNone    = "none"
)

// File is one file a service's configuration puts on one host, rendered:
// the exact bytes and attributes omni wants there.
type File struct {
	Kind    Kind
	Path    string // absolute path on the host
	Content []byte // the exact bytes; rendering is deterministic
	// Mode, Owner and Group are what the inventory declares. Zero and ""
	// keep an existing file's; a new file gets DefaultMode (SecretMode
	// when secret) and the login user's (or root's, under sudo) owner.
	Mode  fs.FileMode
	Owner string
	Group string
	// Validate is a command run on the uploaded temporary file before it
	// replaces the old one; "%s" in it is the temporary file's path
	// (shell-quoted when substituted). Empty: no validation.
	Validate string
	OnChange string // OnChangeRestart (default), OnChangeReload or OnChangeNone
	// Secret: the whole content is secret: never printed, never stored,
	// diffs say only that it changed.
	Secret bool
	// SecretKeys are the env keys whose values are secret (KindEnv): a
	// diff names them and says changed, never the value.
	SecretKeys []string
	// HeldSecrets: the host's copy may hold secrets the inventory no
	// longer declares (omni last wrote it with secret keys or as a secret
	// file, per the registry): an environment file is read like one with
	// SecretKeys (MasksKeys), any other like a secret file (SecretOnHost).
	HeldSecrets bool
	// DaemonReload: writing this file needs `systemctl daemon-reload`
	// before the service runs with it (a drop-in).
	DaemonReload bool
	Line         int // line of its declaration in the inventory
}

// Default modes of a new file.
const (
	DefaultMode fs.FileMode = 0o644
	SecretMode  fs.FileMode = 0o600
)

// Hash is the file's content hash, "sha256:" and 64 hex digits.
func (f File) Hash() string { return HashBytes(f.Content) }

// HasSecret reports whether any of the file's content is secret.
func (f File) HasSecret() bool { return f.Secret || len(f.SecretKeys) > 0 }

// SecretOnHost reports whether the host's copy is treated as a secret
// file: its content never read back, shown, diffed or pulled (its hash
// and attributes only). A secret file; or any file but an environment
// file (whose keys are masked instead: MasksKeys) that omni last wrote as
// secret while the inventory now declares it plain (HeldSecrets).
func (f File) SecretOnHost() bool { return f.Secret || (f.HeldSecrets && f.Kind != KindEnv) }

// MasksKeys reports whether the host's copy of an environment file is
// shown and compared key by key, the values of secret keys and of keys the
// inventory does not declare withheld: one with secret keys, or one that
// held some when omni last wrote it.
func (f File) MasksKeys() bool {
	return f.Kind == KindEnv && !f.Secret && (len(f.SecretKeys) > 0 || f.HeldSecrets)
}

// HashBytes is the hash omni records for content: "sha256:HEX".
func HashBytes(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// Set is one service's declared configuration on one host.
type Set struct {
	Host    string
	Service string
	Files   []File // env first, then the drop-in, then files: in declared order
}

// Empty reports whether the service declares no configuration.
func (s Set) Empty() bool { return len(s.Files) == 0 }

// Hash identifies the whole set: every file's path, declared attributes
// and content hash, in path order. Equal sets hash equal on every machine.
func (s Set) Hash() string {
	lines := make([]string, 0, len(s.Files))
	for _, f := range s.Files {
		lines = append(lines, strings.Join([]string{f.Path, f.Mode.String(), f.Owner, f.Group, f.Hash()}, "\x00"))
	}
	sort.Strings(lines)
	return HashBytes([]byte(strings.Join(lines, "\n")))
}

// Live is what a host has at one path.
type Live struct {
	Path   string
	Exists bool
	Mode   fs.FileMode // permission bits, with the set-ID and sticky bits
	Owner  string      // the owner's name (stat's %U: UNKNOWN when it has none)
	Group  string
	UID    string // the owner's numeric id (stat's %u)
	GID    string
	Hash   string // HashBytes of its content; "" when it does not exist
	Size   int64
	MTime  time.Time
	// Content is the file's bytes, read only when asked for (a diff, show
	// --live, pull) and never for a secret file.
	Content []byte
}

// OwnedBy reports whether the file's owner is owner, which the inventory
// may give as a name or a numeric id; "" (not declared) is any owner.
func (l Live) OwnedBy(owner string) bool {
	return owner == "" || owner == l.Owner || (l.UID != "" && owner == l.UID)
}

// InGroup is OwnedBy for the group.
func (l Live) InGroup(group string) bool {
	return group == "" || group == l.Group || (l.GID != "" && group == l.GID)
}

// AttrsDiffer reports whether the file's declared attributes differ from
// what the host has: its mode (when declared; the whole mode, set-ID and
// sticky bits included, which the chmod of an apply sets too), owner or
// group. It is the one comparison: diff, --dry-run and Apply all use it.
func (l Live) AttrsDiffer(f File) bool {
	return (f.Mode != 0 && l.Mode != f.Mode) || !l.OwnedBy(f.Owner) || !l.InGroup(f.Group)
}

// RecordedAttrs are the file's attributes as the registry records them
// (ConfigChange's OldMode, OldOwner, OldGroup): its mode in octal with its
// set-ID and sticky bits, its owner and group by name (by numeric id when
// they have none).
func (l Live) RecordedAttrs() (mode, owner, group string) {
	return Octal(l.Mode), idName(l.Owner, l.UID), idName(l.Group, l.GID)
}
