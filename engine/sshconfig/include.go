package sshconfig

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	ssh_config "github.com/kevinburke/ssh_config"
)

// maxIncludeDepth is OpenSSH's READCONF_MAX_DEPTH: how deep Include lines
// may nest.
const maxIncludeDepth = 16

// read adds the lines of one file (data, read from path) to c. when are
// the conditions of the Include line the file is read through (none for
// the top file), depth how many Include lines deep it is.
//
// omni walks the structure itself, as ssh's readconf.c does, and gives
// the library only the "Keyword value" lines to parse (Host, Match and
// Include lines are blanked out, keeping every line's number): the
// library cannot evaluate Match criteria other than host, and reads an
// Include'd file with none of the handling below.
//   - Host PATTERNS starts a block that applies to the names the patterns
//     match (pattern.go); Match all, Match host|originalhost PATTERNS (a
//     comma-separated list, matched against the name as given) too; any
//     other Match starts a block that never applies, with a warning.
//   - Include FILES reads each file (relative names are under ~/.ssh, as
//     for the user's file; globs expand in sorted order; a missing file is
//     no error) where the Include line is: its lines apply only where the
//     block holding the Include line applies, its own Host and Match blocks
//     within that, and after it the enclosing block is in force again.
func (c *Config) read(path string, data []byte, when []condition, depth int) (err error) {
	lines := strings.SplitAfter(string(data), "\n")
	type include struct {
		line int
		args string
		when []condition
	}
	type directive struct {
		line int
		when []condition
	}
	var includes []include
	var settings []directive
	current := when
	var forLibrary strings.Builder
	for i, raw := range lines {
		line := strings.TrimRight(raw, "\r\n")
		keyword, args := splitDirective(line)
		fields := words(args)
		switch strings.ToLower(keyword) {
		case "host":
			if len(fields) == 0 {
				return &Error{File: path, Line: i + 1, Msg: "Host needs at least one pattern"}
			}
			current = append(when[:len(when):len(when)], condition{patterns: fields})
		case "match":
			cond, ok, err := matchCondition(fields)
			if err != nil {
				return &Error{File: path, Line: i + 1, Msg: err.Error()}
			}
			if !ok {
				text, _, _ := strings.Cut(args, "#")
				c.Warnings = append(c.Warnings, fmt.Sprintf("%s:%d: %q is not supported: its block is ignored",
					path, i+1, strings.Join(append([]string{keyword}, strings.Fields(text)...), " ")))
			}
			current = when[:len(when):len(when)]
			if cond != nil {
				current = append(current, *cond)
			}
		case "include":
			if len(fields) == 0 {
				return &Error{File: path, Line: i + 1, Msg: "Include needs at least one file"}
			}
			includes = append(includes, include{i + 1, args, current})
		default:
			if keyword != "" && !strings.HasPrefix(keyword, "#") {
				settings = append(settings, directive{i + 1, current})
			}
			forLibrary.WriteString(raw)
			continue
		}
		forLibrary.WriteString(raw[len(line):]) // the line's end only
	}

	parsed, err := decode(path, forLibrary.String())
	if err != nil {
		return err
	}
	kvs := make(map[int]*ssh_config.KV)
	for _, host := range parsed.Hosts {
		for _, node := range host.Nodes {
			if kv, ok := node.(*ssh_config.KV); ok {
				kvs[kv.Pos().Line] = kv
			}
		}
	}
	for _, s := range settings {
		// An Include line comes before the settings that follow it.
		for len(includes) > 0 && includes[0].line < s.line {
			if err := c.include(path, includes[0].line, includes[0].args, includes[0].when, depth); err != nil {
				return err
			}
			includes = includes[1:]
		}
		if kv := kvs[s.line]; kv != nil {
			c.entries = append(c.entries, entry{key: kv.Key, value: strings.TrimSpace(kv.Value),
				file: path, line: s.line, when: s.when})
		}
	}
	for _, inc := range includes {
		if err := c.include(path, inc.line, inc.args, inc.when, depth); err != nil {
			return err
		}
	}
	return nil
}

// decode parses text with the library; the library reports problems by
// panicking, and recovers only its own kinds of panic: never let a
// malformed file crash omni.
func decode(path, text string) (parsed *ssh_config.Config, err error) {
	defer func() {
		if r := recover(); r != nil {
			parsed, err = nil, &Error{File: path, Msg: fmt.Sprintf("cannot parse: %v", r)}
		}
	}()
	parsed, err = ssh_config.DecodeBytes([]byte(text))
	if err != nil {
		return nil, parseError(path, err)
	}
	return parsed, nil
}

// include reads the files of the Include line at line of from.
func (c *Config) include(from string, line int, args string, when []condition, depth int) error {
	fail := func(format string, a ...any) error {
		return &Error{File: from, Line: line, Msg: fmt.Sprintf(format, a...)}
	}
	if depth+1 > maxIncludeDepth {
		return fail("Include: more than %d levels of Include (does a file include itself?)", maxIncludeDepth)
	}
	for _, name := range words(args) {
		pattern, err := includePath(name)
		if err != nil {
			return fail("Include %s: %v", name, err)
		}
		matches, err := filepath.Glob(pattern)
		if err != nil {
			return fail("Include %s: %v", name, err)
		}
		for _, file := range matches { // sorted, as glob(3) sorts them
			data, err := os.ReadFile(file)
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			if err != nil {
				return fail("Include %s: %v", name, err)
			}
			if err := c.read(file, data, when, depth+1); err != nil {
				return err
			}
		}
	}
	return nil
}

// includePath resolves an Include file name as ssh does for the user's
// configuration (omni reads its file as ssh reads one given with -F): a
// leading ~ is the home directory; any other relative name is under
// ~/.ssh.
func includePath(name string) (string, error) {
	if filepath.IsAbs(name) {
		return name, nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("the home directory is unknown: %w", err)
	}
	if strings.HasPrefix(name, "~") {
		return expandTilde(name, home)
	}
	return filepath.Join(home, ".ssh", name), nil
}

// matchCondition reads a Match line's criteria: the condition of its block
// (nil for Match all: every name), and whether omni can evaluate it.
func matchCondition(fields []string) (cond *condition, ok bool, err error) {
	switch {
	case len(fields) == 0:
		return nil, false, errors.New("Match needs a criterion")
	case len(fields) == 1 && strings.EqualFold(fields[0], "all"):
		return nil, true, nil
	case len(fields) == 2 && (strings.EqualFold(fields[0], "host") || strings.EqualFold(fields[0], "originalhost")):
		return &condition{patterns: strings.Split(fields[1], ","), anyCase: true}, true, nil
	default:
		return &condition{never: true}, false, nil
	}
}

// words splits a directive's arguments at spaces and tabs, up to a word
// that starts a comment; double quotes group a word.
func words(args string) []string {
	var out []string
	for args = strings.TrimLeft(args, " \t"); args != ""; args = strings.TrimLeft(args, " \t") {
		if args[0] == '#' {
			break
		}
		if args[0] == '"' {
			if end := strings.IndexByte(args[1:], '"'); end >= 0 {
				out = append(out, args[1:1+end])
				args = args[end+2:]
				continue
			}
		}
		end := strings.IndexAny(args, " \t")
		if end < 0 {
			end = len(args)
		}
		out = append(out, args[:end])
		args = args[end:]
	}
	return out
}
