package sshconfig

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	ssh_config "github.com/kevinburke/ssh_config"

	"github.com/omni-fleet/omni/engine/transport"
)

// Config is a parsed OpenSSH client configuration file. A nil *Config is
// an empty one: every lookup finds nothing.
type Config struct {
	// Path is the file the configuration was read from, as given; it names
	// the file in errors and warnings.
	Path string
	// Warnings are problems that did not stop the file from being used,
	// "FILE:LINE: message" each: Match blocks that are ignored.
	Warnings []string

	cfg *ssh_config.Config // nil when the file does not exist
}

// Error is a problem with the configuration: a line the parser rejects, or
// a value omni cannot use (a bad Port, a ProxyJump loop, ...).
type Error struct {
	File string // the configuration file
	Line int    // 1-based; 0 when not known (a value from an Include'd file)
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
// Include directives in it are read from disk, relative to ~/.ssh.
func Parse(path string, data []byte) (c *Config, err error) {
	c = &Config{Path: path}
	data = c.dropUnsupportedMatches(data)
	defer func() {
		// The parser reports problems by panicking, and recovers only its
		// own kinds of panic: never let a malformed file crash omni.
		if r := recover(); r != nil {
			c, err = nil, &Error{File: path, Msg: fmt.Sprintf("cannot parse: %v", r)}
		}
	}()
	parsed, err := ssh_config.DecodeBytes(data)
	if err != nil {
		return nil, parseError(path, err)
	}
	c.cfg = parsed
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

// dropUnsupportedMatches rewrites the Match lines the parser cannot handle
// into a Host line that matches nothing, so that their blocks are ignored
// and every other line keeps its number; each gives a warning. Supported
// are "Match all" and "Match host|originalhost PATTERNS" (both matched
// against the name as given, before HostName). The parser itself fails on
// any other criterion, and reads a second criterion after host as more
// host patterns.
func (c *Config) dropUnsupportedMatches(data []byte) []byte {
	lines := bytes.SplitAfter(data, []byte("\n"))
	changed := false
	for i, raw := range lines {
		line := strings.TrimRight(string(raw), "\r\n")
		keyword, args := splitDirective(line)
		if !strings.EqualFold(keyword, "match") {
			continue
		}
		if hash := strings.IndexByte(args, '#'); hash >= 0 {
			args = args[:hash]
		}
		fields := strings.Fields(args)
		var rewritten string
		switch {
		case len(fields) == 1 && strings.EqualFold(fields[0], "all"):
			continue
		case len(fields) == 2 && (strings.EqualFold(fields[0], "host") || strings.EqualFold(fields[0], "originalhost")):
			// Pattern lists are comma-separated in Match lines; the parser
			// splits them at spaces.
			rewritten = "Match host " + strings.ReplaceAll(fields[1], ",", " ")
		default:
			rewritten = "Host !*" // matches nothing: the block is ignored
			c.Warnings = append(c.Warnings, fmt.Sprintf("%s:%d: %q is not supported: its block is ignored",
				c.Path, i+1, strings.Join(append([]string{keyword}, fields...), " ")))
		}
		lines[i] = []byte(rewritten + string(raw[len(line):]))
		changed = true
	}
	if !changed {
		return data
	}
	return bytes.Join(lines, nil)
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
	// applied, 0 when not known.
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
	if c == nil || c.cfg == nil {
		return h, nil
	}
	if v, line, ok := c.first(alias, "HostName"); ok {
		name, err := expandHostName(v, alias)
		if err != nil {
			return h, c.errorf(line, "HostName %q: %v", v, err)
		}
		h.HostName = name
	}
	if v, line, ok := c.first(alias, "Port"); ok {
		port, err := strconv.Atoi(v)
		if err != nil || port < 1 || port > 65535 {
			return h, c.errorf(line, "Port %q is not a port number (1-65535)", v)
		}
		h.Port = port
	}
	if v, _, ok := c.first(alias, "User"); ok {
		h.User = v
	}
	if v, _, ok := c.first(alias, "IdentitiesOnly"); ok {
		h.IdentitiesOnly = strings.EqualFold(v, "yes")
	}
	files, err := c.cfg.GetAll(alias, "IdentityFile")
	if err != nil {
		return h, c.errorf(0, "IdentityFile for %s: %v", alias, err)
	}
	for _, f := range files {
		if f != "" {
			h.IdentityFiles = append(h.IdentityFiles, f)
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
	if v, line, ok := c.first(alias, "ServerAliveInterval"); ok {
		d, err := ParseTime(v)
		if err != nil {
			return h, c.errorf(line, "ServerAliveInterval %q: %v", v, err)
		}
		h.ServerAliveInterval = d
		if d == 0 {
			h.ServerAliveInterval = transport.KeepalivesOff
		}
	}
	if v, line, ok := c.first(alias, "ServerAliveCountMax"); ok {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return h, c.errorf(line, "ServerAliveCountMax %q is not a count (0 or more)", v)
		}
		h.ServerAliveCountMax = max(n, 1)
	}
	if key, v, line, ok := c.firstOf(alias, "ProxyJump", "ProxyCommand"); ok {
		h.ProxyLine = line
		switch {
		case strings.EqualFold(v, "none"):
		case key == "ProxyCommand":
			h.ProxyCommand = v
		default:
			jumps, err := ParseProxyJump(v)
			if err != nil {
				return h, c.errorf(line, "ProxyJump %q: %v", v, err)
			}
			h.ProxyJump = jumps
		}
	}
	return h, nil
}

func (c *Config) errorf(line int, format string, args ...any) *Error {
	return &Error{File: c.Path, Line: line, Msg: fmt.Sprintf(format, args...)}
}

func (c *Config) first(alias, key string) (value string, line int, ok bool) {
	_, value, line, ok = c.firstOf(alias, key)
	return value, line, ok
}

// firstOf finds the first of keys set for alias, in file order: the key
// found (spelled as in keys), its value and line (0 when it comes from an
// Include'd file, whose lines the parser does not expose).
func (c *Config) firstOf(alias string, keys ...string) (key, value string, line int, ok bool) {
	for _, host := range c.cfg.Hosts {
		if !host.Matches(alias) {
			continue
		}
		for _, node := range host.Nodes {
			switch n := node.(type) {
			case *ssh_config.KV:
				for _, k := range keys {
					if strings.EqualFold(n.Key, k) {
						return k, strings.TrimSpace(n.Value), n.Pos().Line, true
					}
				}
			case *ssh_config.Include:
				for _, k := range keys {
					if v := n.Get(alias, k); v != "" {
						return k, strings.TrimSpace(v), 0, true
					}
				}
			}
		}
	}
	return "", "", 0, false
}
