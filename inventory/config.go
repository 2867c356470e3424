package inventory

import (
	"io/fs"
	"path"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"
)

// ServiceConfig is a service's declared configuration (the keys env,
// env_file, dropin and files; docs/config.md). It is what the inventory
// says, not what it renders to: secret values are resolved and sources read
// by package engine/config when it renders, never at load, so an operator
// without the secrets can still load the inventory.
type ServiceConfig struct {
	Env []EnvVar // in declared order
	// EnvFile is the environment file's absolute path on the host as
	// declared; "" is the default, DefaultEnvDir/SERVICE.env (ConfigOf
	// fills it in).
	EnvFile     string
	Dropin      []DropinSection // systemd only, in declared order
	Files       []ConfigFile    // in declared order
	EnvLine     int             // line of env:, 0 when not declared
	EnvFileLine int             // line of env_file:, 0 when not declared
	DropinLine  int             // line of dropin:, 0 when not declared
}

// Empty reports whether nothing is declared that renders to a file.
func (c ServiceConfig) Empty() bool {
	return len(c.Env) == 0 && len(c.Dropin) == 0 && len(c.Files) == 0
}

// EnvVar is one key of env:. Exactly one of Value (literal), FromEnv and
// FromFile gives its value.
type EnvVar struct {
	Key    string
	Value  string // the YAML literal text ("8080", "on"); "" with FromEnv or FromFile
	Secret bool
	// FromEnv: the value is this variable of omni's own environment, read
	// when rendering.
	FromEnv string
	// FromFile: the value is this local file's content (absolute; one
	// trailing newline trimmed), read when rendering.
	FromFile string
	Line     int
}

// DropinSection is one section of a systemd drop-in, e.g. Service.
type DropinSection struct {
	Name string
	Keys []DropinKey // in declared order
	Line int
}

// DropinKey is one key of a drop-in section; a list writes one line per
// value (Environment=, ExecStartPre=, ...).
type DropinKey struct {
	Key    string
	Values []string
	Line   int
}

// ConfigFile is one entry of files:.
type ConfigFile struct {
	Path   string // absolute, clean, on the host
	Source string // absolute local path, read when rendering (at most MaxConfigSourceBytes)
	// Mode is the declared permission bits; 0: not declared.
	Mode     fs.FileMode
	Owner    string
	Group    string
	Validate string // a command with one %s (the uploaded temporary file); "" none
	OnChange string // "restart" (default), "reload" or "none"
	Secret   bool
	Line     int
}

// ConfigOverride is a host's config: entry for one service: env keys
// override or add, drop-in keys override per section, files replace by
// path or add.
type ConfigOverride struct {
	Env    []EnvVar
	Dropin []DropinSection
	Files  []ConfigFile
	Line   int
}

// Defaults and bounds of declared configuration.
const (
	// DefaultEnvDir is where a service's environment file goes unless
	// env_file says otherwise: DefaultEnvDir/SERVICE.env.
	DefaultEnvDir = "/etc/omni/env"
	// MaxConfigSourceBytes bounds a files: source (1 MiB): configuration,
	// not data.
	MaxConfigSourceBytes = 1 << 20
	// MaxEnvValueBytes bounds an env value read from a file (64 KiB).
	MaxEnvValueBytes = 64 << 10
)

// The values of on_change.
var onChanges = []string{"restart", "reload", "none"}

var (
	envKeyRE     = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	dropinSecRE  = regexp.MustCompile(`^[A-Z][A-Za-z]*$`)
	dropinKeyRE  = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9]*$`)
	accountRE    = regexp.MustCompile(`^([A-Za-z_][A-Za-z0-9_.-]*\$?|[0-9]+)$`) // and validAccount's lengths
	octalModeRE  = regexp.MustCompile(`^(0o?)?[0-7]{3}$`)
	unitSafeRE   = regexp.MustCompile(`^[A-Za-z0-9:_.@\\-]+$`)
	envFileRulRE = regexp.MustCompile(`^/[A-Za-z0-9/._+@:,=-]*$`)
)

// ValidEnvKey reports whether k is a valid env key (a shell variable name).
func ValidEnvKey(k string) bool { return envKeyRE.MatchString(k) }

// validAccount reports whether v is a user or group name (a letter or _,
// then up to 31 letters, digits, _ . -, and an optional trailing $) or a
// numeric id of up to 10 digits. The lengths are checked here, not by a
// counted repetition in accountRE, which would be compiled into that many
// copies at every start of omni.
func validAccount(v string) bool {
	if !accountRE.MatchString(v) {
		return false
	}
	if v[0] >= '0' && v[0] <= '9' {
		return len(v) <= 10
	}
	return len(strings.TrimSuffix(v, "$")) <= 32
}

// CheckEnvValue says what is wrong with an env value, "" when nothing: it
// must be valid UTF-8 without control characters (NUL, newline, tab, ...),
// so that one line of the environment file holds it and systemd and sh
// read it alike. The message never quotes the value.
func CheckEnvValue(v string) string {
	if !utf8.ValidString(v) {
		return "is not valid UTF-8"
	}
	if i := strings.IndexFunc(v, unicode.IsControl); i >= 0 {
		return "contains a control character (NUL, newline, tab, ...), which an environment file cannot hold on one line"
	}
	return ""
}

// DefaultEnvFile is the environment file of a service that sets no env_file.
func DefaultEnvFile(service string) string {
	return path.Join(DefaultEnvDir, service+".env")
}

// DropinPath is the drop-in omni writes for a systemd unit.
func DropinPath(unit string) string {
	return "/etc/systemd/system/" + unit + ".d/50-omni.conf"
}

// ConfigOf is the configuration service s has on host h: the service's
// declarations with the host's overrides applied. Nothing is read or
// resolved. EnvFile is filled in with its default.
func (inv *Inventory) ConfigOf(h *Host, s *Service) ServiceConfig {
	c := s.Config
	if c.EnvFile == "" {
		c.EnvFile = DefaultEnvFile(s.Name)
	}
	o := h.Config[s.Name]
	if o == nil {
		return c
	}
	c.Env = mergeEnv(c.Env, o.Env)
	c.Dropin = mergeDropin(c.Dropin, o.Dropin)
	c.Files = mergeFiles(c.Files, o.Files)
	if c.EnvLine == 0 && len(o.Env) > 0 {
		c.EnvLine = o.Line
	}
	if c.DropinLine == 0 && len(o.Dropin) > 0 {
		c.DropinLine = o.Line
	}
	return c
}

// mergeBy is base with over's items laid on top: an item of over replaces
// the item of base with the same key, in its place; new keys follow, in
// over's order. It indexes by key: an override of N items over a base of
// M costs N+M, not N×M.
func mergeBy[T any](base, over []T, key func(T) string) []T {
	out := append([]T(nil), base...)
	at := make(map[string]int, len(out))
	for i, v := range out {
		at[key(v)] = i
	}
	for _, v := range over {
		if i, ok := at[key(v)]; ok {
			out[i] = v
		} else {
			at[key(v)] = len(out)
			out = append(out, v)
		}
	}
	return out
}

func mergeEnv(base, over []EnvVar) []EnvVar {
	return mergeBy(base, over, func(v EnvVar) string { return v.Key })
}

func mergeFiles(base, over []ConfigFile) []ConfigFile {
	return mergeBy(base, over, func(f ConfigFile) string { return f.Path })
}

// mergeDropin merges sections by name, and the keys of a section by key.
func mergeDropin(base, over []DropinSection) []DropinSection {
	out := append([]DropinSection(nil), base...) // mergeBy copies a section's keys before it changes them
	at := make(map[string]int, len(out))
	for i, s := range out {
		at[s.Name] = i
	}
	for _, s := range over {
		i, ok := at[s.Name]
		if !ok {
			at[s.Name] = len(out)
			out = append(out, DropinSection{Name: s.Name, Keys: append([]DropinKey(nil), s.Keys...), Line: s.Line})
			continue
		}
		out[i].Keys = mergeBy(out[i].Keys, s.Keys, func(k DropinKey) string { return k.Key })
	}
	return out
}
