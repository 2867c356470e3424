package config

import (
	"fmt"
	"strings"
)

// The environment file's format: one KEY="value" line per key, the value
// double-quoted with \, ", $ and ` escaped by a backslash, and comment
// lines starting with #. Values hold no control characters (the inventory
// refuses them). Both readers of the file read it the same way:
//
//   - sh (`set -a; . FILE`, the command manager): inside double quotes a
//     backslash keeps its meaning only before $ ` " \ and newline (POSIX
//     2.2.3), so each escaped character is read as itself and every other
//     character, spaces and # included, is literal. Verified by
//     TestEnvFileSh, which sources rendered files in sh (and bash).
//   - systemd (EnvironmentFile=): systemd.exec(5) says the file follows
//     shell quoting: in double quotes a backslash escapes exactly
//     SHELL_NEED_ESCAPE = "\"\\`$" (src/basic/env-file.c,
//     DOUBLE_QUOTE_VALUE_ESCAPE), and leading/trailing whitespace is kept
//     inside quotes; older versions (before v240) dropped the backslash
//     before any character, which reads the same for these four. Verified
//     by TestEnvFileSystemdGrammar against a transcription of that state
//     machine (not a running systemd: the e2e tests over systemd hosts do
//     that).

// EnvQuote is value double-quoted for the environment file.
func EnvQuote(value string) string {
	var b strings.Builder
	b.Grow(len(value) + 2)
	b.WriteByte('"')
	for i := 0; i < len(value); i++ {
		switch c := value[i]; c {
		case '\\', '"', '$', '`':
			b.WriteByte('\\')
			b.WriteByte(c)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// EnvLine is one line of the environment file: KEY="value" and a newline.
func EnvLine(key, value string) string { return key + "=" + EnvQuote(value) + "\n" }

// EnvEntry is one key of an environment file and its value.
type EnvEntry struct {
	Key   string
	Value string
}

// ParseEnv reads an environment file written in omni's format (EnvLine),
// e.g. a host's copy, for a diff by key. Comment and blank lines are
// skipped. A line not in the format is an error naming its number, never
// its content (it may hold a secret).
func ParseEnv(content []byte) ([]EnvEntry, error) {
	var out []EnvEntry
	for i, line := range strings.Split(strings.TrimSuffix(string(content), "\n"), "\n") {
		if line == "" || line[0] == '#' {
			continue
		}
		k, q, ok := strings.Cut(line, "=")
		v, good := envUnquote(q)
		if !ok || !good || !validEnvKey(k) {
			return nil, fmt.Errorf("line %d is not KEY=\"value\" as omni writes it", i+1)
		}
		out = append(out, EnvEntry{k, v})
	}
	return out, nil
}

func envUnquote(q string) (string, bool) {
	if len(q) < 2 || q[0] != '"' || q[len(q)-1] != '"' {
		return "", false
	}
	var b strings.Builder
	body := q[1 : len(q)-1]
	for i := 0; i < len(body); i++ {
		c := body[i]
		switch {
		case c == '\\' && i+1 < len(body) && strings.IndexByte("\\\"$`", body[i+1]) >= 0:
			b.WriteByte(body[i+1])
			i++
		case c == '\\' || c == '"' || c == '$' || c == '`':
			return "", false // unescaped: not omni's writing
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), true
}

func validEnvKey(k string) bool {
	if k == "" || (k[0] >= '0' && k[0] <= '9') {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}
