package sshconfig

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/omni-fleet/omni/engine/transport"
)

// Config is a parsed OpenSSH client configuration file, with the files it
// includes. A nil *Config is an empty one: every lookup finds nothing.
type Config struct {
	// Path is the file the configuration was read from, as given; it names
	// the file in errors and warnings.
	Path string
	// Warnings are problems that did not stop the file from being used,
	// "FILE:LINE: message" each: Match blocks that are ignored.
	Warnings []string

	// entries are the settings of the file and of the files it includes,
	// in the order ssh reads them.
	entries []entry
}

// entry is one "Keyword value" line, with the blocks it is in.
type entry struct {
	key, value string
	file       string
	line       int
	// when are the conditions under which the line applies, all of them:
	// the Host or Match block it is in, and the blocks of the Include
	// lines it was read through.
	when []condition
}

// condition is a Host line's patterns, or a Match line's.
type condition struct {
	patterns []string
	never    bool // a Match omni cannot evaluate: its block is ignored
	// anyCase: the patterns match without regard to case (Match host, as
	// ssh's match_hostname); a Host line's patterns are taken as written,
	// against the lowercased name, so `Host Web1` matches nothing, as in ssh.
	anyCase bool
}

func (e *entry) applies(alias string) bool {
	for _, c := range e.when {
		if c.never || !matchList(alias, c.patterns, c.anyCase) {
			return false
		}
	}
	return true
}

// Error is a problem with the configuration: a line the parser rejects, or
// a value omni cannot use (a bad Port, a ProxyJump loop, ...).
type Error struct {
	File string // the configuration file (or the file it includes)
	Line int    // 1-based; 0 when not known
	Msg  string
}

func (e *Error) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	}
	return e.File + ": " + e.Msg
}

// DefaultPath is the user's configuration file, ~/.ssh/config, or "" when
// the home directory is unknown.
func DefaultPath() string {
	home, err := os.UserHomeDir()
	if err != nil || home == "" {
		return ""
	}
	return filepath.Join(home, ".ssh", "config")
}

// Load reads and parses the configuration file at path. A file that does
// not exist is an empty configuration, not an error, as for ssh; so is the
// path "none" (as for ssh -F none). A file that cannot be parsed gives an
// *Error with the line when the parser reports one.
func Load(path string) (*Config, error) {
	if path == "none" {
		return &Config{Path: path}, nil
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return &Config{Path: path}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read ssh config: %w", err)
	}
	return Parse(path, data)
}

// Parse is Load for content already in memory; path names it in messages.
// Include directives in it are read from disk (see include.go).
func Parse(path string, data []byte) (*Config, error) {
	c := &Config{Path: path}
	if err := c.read(path, data, nil, 0); err != nil {
		return nil, err
	}
	return c, nil
}

// The parser's messages start with "(LINE, COLUMN): ".
var positionRE = regexp.MustCompile(`^\((\d+), \d+\): (?s)(.*)$`)

func parseError(path string, err error) error {
	msg := strings.TrimSpace(err.Error())
	if m := positionRE.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		return &Error{File: path, Line: line, Msg: strings.TrimPrefix(m[2], "ssh_config: ")}
	}
	return &Error{File: path, Msg: strings.TrimPrefix(msg, "ssh_config: ")}
}

// splitDirective splits a configuration line into its keyword and the rest:
// "Keyword value", "Keyword=value" and "Keyword = value" are all accepted.
func splitDirective(line string) (keyword, args string) {
	line = strings.TrimLeft(line, " \t")
	end := strings.IndexAny(line, " \t=")
	if end < 0 {
		return line, ""
	}
	keyword, args = line[:end], strings.TrimLeft(line[end:], " \t")
	args = strings.TrimPrefix(args, "=")
	return keyword, strings.TrimLeft(args, " \t")
}

// Host is what the configuration says about one name. Zero values mean the
// configuration does not set the key.
type Host struct {
	// Alias is the name looked up, as typed after `ssh`.
	Alias string
	// HostName is the real host name or address to connect to, with %h and
	// %% expanded.
	HostName string
	Port     int
	User     string
	// IdentitiesOnly: IdentitiesOnly yes, offer only the identity files'
	// keys (from the files, or from ssh-agent when it holds them), not the
	// agent's other keys.
	IdentitiesOnly bool
	// IdentityFiles are the IdentityFile values, in order and as written:
	// expand them with ExpandPath once the connection's user, host and port
	// are known.
	IdentityFiles []string
	// KnownHostsFile is the first file of UserKnownHostsFile, as written
	// (see ExpandPath); "" when unset or "none". MoreKnownHostsFiles are
	// the others: read with it (a key listed in any is known, a key
	// revoked in any is refused), never written to.
	KnownHostsFile      string
	MoreKnownHostsFiles []string
	// ProxyJump lists the hops to go through, first hop first; nil when
	// unset or "none".
	ProxyJump []Jump
	// ProxyCommand is set when a ProxyCommand other than "none" applies and
	// comes before any ProxyJump (the first of the two wins, as in ssh).
	ProxyCommand string
	// ProxyLine is the line of the ProxyJump or ProxyCommand directive
	// applied, in Config.Path; 0 when it is in a file Path includes.
	ProxyLine int
	// ServerAliveInterval is ServerAliveInterval: 0 when unset,
	// transport.KeepalivesOff when set to 0 (no keepalives), as
	// transport.Endpoint has it.
	ServerAliveInterval time.Duration
	// ServerAliveCountMax is ServerAliveCountMax, 0 when unset. A 0 in
	// the file is 1: ssh then gives up at the first unanswered interval.
	ServerAliveCountMax int
}

// Lookup returns the settings for alias, the host name as typed after
// `ssh`: the first value of each key among the blocks that match it.
func (c *Config) Lookup(alias string) (Host, error) {
	h := Host{Alias: alias}
	if c == nil || len(c.entries) == 0 {
		return h, nil
	}
	if v, at, ok := c.first(alias, "HostName"); ok {
		name, err := expandHostName(v, alias)
		if err != nil {
			return h, at.errorf("HostName %q: %v", v, err)
		}
		h.HostName = name
	}
	if v, at, ok := c.first(alias, "Port"); ok {
		port, err := strconv.Atoi(v)
		if err != nil || port < 1 || port > 65535 {
			return h, at.errorf("Port %q is not a port number (1-65535)", v)
		}
		h.Port = port
	}
	if v, _, ok := c.first(alias, "User"); ok {
		h.User = v
	}
	if v, _, ok := c.first(alias, "IdentitiesOnly"); ok {
		h.IdentitiesOnly = strings.EqualFold(v, "yes")
	}
	for i := range c.entries {
		if e := &c.entries[i]; strings.EqualFold(e.key, "IdentityFile") && e.value != "" && e.applies(alias) {
			h.IdentityFiles = append(h.IdentityFiles, e.value)
		}
	}
	if v, _, ok := c.first(alias, "UserKnownHostsFile"); ok {
		if files := strings.Fields(v); len(files) > 0 && files[0] != "none" {
			h.KnownHostsFile = files[0]
			for _, f := range files[1:] {
				if f != "none" {
					h.MoreKnownHostsFiles = append(h.MoreKnownHostsFiles, f)
				}
			}
		}
	}
	if v, at, ok := c.first(alias, "ServerAliveInterval"); ok {
		d, err := ParseTime(v)
		if err != nil {
			return h, at.errorf("ServerAliveInterval %q: %v", v, err)
		}
		h.ServerAliveInterval = d
		if d == 0 {
			h.ServerAliveInterval = transport.KeepalivesOff
		}
	}
	if v, at, ok := c.first(alias, "ServerAliveCountMax"); ok {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return h, at.errorf("ServerAliveCountMax %q is not a count (0 or more)", v)
		}
		h.ServerAliveCountMax = max(n, 1)
	}
	if key, v, at, ok := c.firstOf(alias, "ProxyJump", "ProxyCommand"); ok {
		if at.file == c.Path {
			h.ProxyLine = at.line
		}
		switch {
		case strings.EqualFold(v, "none"):
		case key == "ProxyCommand":
			h.ProxyCommand = v
		default:
			jumps, err := ParseProxyJump(v)
			if err != nil {
				return h, at.errorf("ProxyJump %q: %v", v, err)
			}
			h.ProxyJump = jumps
		}
	}
	return h, nil
}

func (e *entry) errorf(format string, args ...any) *Error {
	return &Error{File: e.file, Line: e.line, Msg: fmt.Sprintf(format, args...)}
}

func (c *Config) first(alias, key string) (value string, at *entry, ok bool) {
	_, value, at, ok = c.firstOf(alias, key)
	return value, at, ok
}

// firstOf finds the first of keys set for alias, in the order ssh reads
// the lines: the key found (spelled as in keys), its value and its line.
func (c *Config) firstOf(alias string, keys ...string) (key, value string, at *entry, ok bool) {
	for i := range c.entries {
		e := &c.entries[i]
		for _, k := range keys {
			if strings.EqualFold(e.key, k) && e.applies(alias) {
				return k, e.value, e, true
			}
		}
	}
	return "", "", nil, false
}
