package config

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/omni-fleet/omni/inventory"
)

// hostileValues are values an environment file must carry unchanged.
var hostileValues = []string{
	``,
	`plain`,
	`two words`,
	`  leading and trailing  `,
	`double"quote`,
	`"fully quoted"`,
	`single'quote`,
	`'fully single'`,
	`$HOME`,
	`${HOME:-x}`,
	`$(touch /tmp/omni-envfile-pwned)`,
	"`touch /tmp/omni-envfile-pwned`",
	`back\slash`,
	`trailing\`,
	`\\double`,
	`\n not a newline`,
	`\$ \" \`,
	`#not a comment`,
	`; not a comment`,
	`a=b=c`,
	`!bang !!`,
	`%i %h 100%`,
	`*.glob ?`,
	`a;b&&c|d>e<f`,
	`héllo wörld 世界 🎉`,
	"\u00a0nbsp",
}

// renderHostile renders an env file holding hostileValues (V0...), half of
// them from omni's environment as secrets.
func renderHostile(t *testing.T) (File, map[string]string) {
	t.Helper()
	var b strings.Builder
	b.WriteString("version: 1\ndefaults: {user: ops}\nhosts: {h1: {address: a, roles: [r]}}\nroles: {r: [app]}\nservices:\n  app:\n    env:\n")
	want := map[string]string{}
	for i, v := range hostileValues {
		key := fmt.Sprintf("V%d", i)
		want[key] = v
		if i%2 == 0 {
			fmt.Fprintf(&b, "      %s: %s\n", key, yamlQuote(v))
		} else {
			t.Setenv("OMNI_ENVFILE_TEST_"+key, v)
			fmt.Fprintf(&b, "      %s: {secret: true, from_env: OMNI_ENVFILE_TEST_%s}\n", key, key)
		}
	}
	inv, err := inventory.Parse("inv.yaml", []byte(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	set, err := Render(inv, "h1", "app")
	if err != nil {
		t.Fatal(err)
	}
	return set.Files[0], want
}

// yamlQuote is v as a YAML double-quoted scalar.
func yamlQuote(v string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(v) + `"`
}

// TestEnvFileSh: sh (and bash) source a rendered file with `set -a; .`
// and read back every value exactly, running nothing in it.
func TestEnvFileSh(t *testing.T) {
	f, want := renderHostile(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "app.env")
	if err := os.WriteFile(path, f.Content, 0o600); err != nil {
		t.Fatal(err)
	}
	pwned := "/tmp/omni-envfile-pwned" // the path the hostile values name
	os.Remove(pwned)
	t.Cleanup(func() { os.Remove(pwned) })
	var keys []string
	for i := range hostileValues {
		keys = append(keys, fmt.Sprintf("V%d", i))
	}
	// Print each key's value from a child's environment (set -a
	// exported them), NUL-terminated.
	script := `set -a; . "$1"; set +a; shift; for k in "$@"; do env | grep -q "^$k=" || { echo "$k not exported" >&2; exit 1; }; eval "printf '%s\0' \"\$$k\""; done`
	shells := 0
	for _, sh := range []string{"sh", "dash", "bash"} {
		bin, err := exec.LookPath(sh)
		if err != nil {
			continue
		}
		shells++
		cmd := exec.Command(bin, append([]string{"-c", script, sh, path}, keys...)...)
		cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=/home/nobody"}
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("%s: %v: %s", sh, err, stderr.String())
		}
		got := strings.Split(strings.TrimSuffix(string(out), "\x00"), "\x00")
		if len(got) != len(keys) {
			t.Fatalf("%s: %d values, want %d: %q", sh, len(got), len(keys), got)
		}
		for i, k := range keys {
			if got[i] != want[k] {
				t.Errorf("%s: %s = %q, want %q", sh, k, got[i], want[k])
			}
		}
	}
	if shells == 0 {
		t.Fatal("no sh on this machine")
	}
	if _, err := os.Stat(pwned); err == nil {
		t.Fatal("sourcing the env file ran a command from a value")
	}
}

// systemdParse is systemd's environment-file parser, transcribed from
// parse_env_file_internal() in src/basic/env-file.c (systemd v240 and
// later; systemd.exec(5), EnvironmentFile=): its states and transitions,
// and load_env_file_push()'s refusal of invalid UTF-8 and of control
// characters other than tab and newline in a value. It is the reference
// the rendered file is checked against here; the e2e tests check a real
// systemd.
func systemdParse(content string) (map[string]string, []string, error) {
	const (
		preKey = iota
		key
		preValue
		value
		valueEscape
		singleQuote
		doubleQuote
		doubleQuoteEscape
		comment
		commentEscape
	)
	const shellNeedEscape = "\"\\`$"
	out := map[string]string{}
	var order []string
	state := preKey
	var k, v []byte
	lastValueWS := -1
	lastKeyWS := -1
	push := func() error {
		if lastValueWS >= 0 {
			v = v[:lastValueWS]
		}
		if lastKeyWS >= 0 {
			k = k[:lastKeyWS]
		}
		name, val := string(k), string(v)
		if !inventory.ValidEnvKey(name) {
			return fmt.Errorf("invalid key %q", name)
		}
		if msg := inventory.CheckEnvValue(val); msg != "" {
			return fmt.Errorf("%s: value %s", name, msg)
		}
		if _, ok := out[name]; !ok {
			order = append(order, name)
		}
		out[name] = val
		k, v, lastValueWS, lastKeyWS = nil, nil, -1, -1
		return nil
	}
	isWS := func(c byte) bool { return strings.IndexByte(" \t\n\r", c) >= 0 }
	isNL := func(c byte) bool { return c == '\n' || c == '\r' }
	for i := 0; i < len(content); i++ {
		c := content[i]
		switch state {
		case preKey:
			if c == '#' || c == ';' {
				state = comment
			} else if !isWS(c) {
				state = key
				k = append(k[:0], c)
				lastKeyWS = -1
			}
		case key:
			if isNL(c) {
				state, k = preKey, nil
			} else if c == '=' {
				state, lastValueWS = preValue, -1
			} else {
				if !isWS(c) {
					lastKeyWS = -1
				} else if lastKeyWS < 0 {
					lastKeyWS = len(k)
				}
				k = append(k, c)
			}
		case preValue:
			switch {
			case isNL(c):
				state = preKey
				if err := push(); err != nil {
					return nil, nil, err
				}
			case c == '\'':
				state = singleQuote
			case c == '"':
				state = doubleQuote
			case c == '\\':
				state = valueEscape
			case !isWS(c):
				state = value
				v = append(v, c)
			}
		case value:
			switch {
			case isNL(c):
				state = preKey
				if err := push(); err != nil {
					return nil, nil, err
				}
			case c == '\\':
				state, lastValueWS = valueEscape, -1
			default:
				if !isWS(c) {
					lastValueWS = -1
				} else if lastValueWS < 0 {
					lastValueWS = len(v)
				}
				v = append(v, c)
			}
		case valueEscape:
			state = value
			if !isNL(c) {
				v = append(v, c)
			}
		case singleQuote:
			if c == '\'' {
				state = preValue
			} else {
				v = append(v, c)
			}
		case doubleQuote:
			if c == '"' {
				state = preValue
			} else if c == '\\' {
				state = doubleQuoteEscape
			} else {
				v = append(v, c)
			}
		case doubleQuoteEscape:
			state = doubleQuote
			if strings.IndexByte(shellNeedEscape, c) >= 0 {
				v = append(v, c)
			} else if c != '\n' {
				v = append(v, '\\', c)
			}
		case comment:
			if c == '\\' {
				state = commentEscape
			} else if isNL(c) {
				state = preKey
			}
		case commentEscape:
			state = comment
		}
	}
	switch state {
	case preValue, value, valueEscape, singleQuote, doubleQuote, doubleQuoteEscape:
		if err := push(); err != nil {
			return nil, nil, err
		}
	}
	return out, order, nil
}

// TestEnvFileSystemdGrammar: systemd's parser reads every value of a
// rendered file back exactly, in order, and the header comment is ignored.
func TestEnvFileSystemdGrammar(t *testing.T) {
	f, want := renderHostile(t)
	got, order, err := systemdParse(string(f.Content))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("systemd reads %d keys, want %d: %v", len(got), len(want), order)
	}
	for i, k := range order {
		if k != fmt.Sprintf("V%d", i) || got[k] != want[k] {
			t.Errorf("systemd reads %s = %q, want %q", k, got[k], want[k])
		}
	}
	if strings.Join(f.SecretKeys, ",") != "V1,V3,V5,V7,V9,V11,V13,V15,V17,V19,V21,V23,V25" {
		t.Errorf("secret keys %v", f.SecretKeys)
	}
}

// TestParseEnv: omni reads its own format back, and refuses lines not
// written by it without quoting them.
func TestParseEnv(t *testing.T) {
	f, want := renderHostile(t)
	entries, err := ParseEnv(f.Content)
	if err != nil {
		t.Fatal(err)
	}
	for i, e := range entries {
		if e.Key != fmt.Sprintf("V%d", i) || e.Value != want[e.Key] {
			t.Errorf("entry %d = %q=%q, want %q", i, e.Key, e.Value, want[e.Key])
		}
	}
	for _, bad := range []string{"K=unquoted-s3cret\n", "K=\"s3cret\n", "1K=\"s3cret\"\n", "K=\"a\"s3cret\"\n", "K=\"$s3cret\"\n"} {
		_, err := ParseEnv([]byte("# c\n" + bad))
		if err == nil || !strings.Contains(err.Error(), "line 2") || strings.Contains(err.Error(), "s3cret") {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

// TestEnvQuoteTable: the escaping itself.
func TestEnvQuoteTable(t *testing.T) {
	for in, want := range map[string]string{
		``:          `""`,
		`a b`:       `"a b"`,
		`a"b`:       `"a\"b"`,
		`$x`:        `"\$x"`,
		"`x`":       "\"\\`x\\`\"",
		`\`:         `"\\"`,
		`'`:         `"'"`,
		`héllo`:     `"héllo"`,
		`\$"` + "`": `"\\\$\"` + "\\`\"",
	} {
		if got := EnvQuote(in); got != want {
			t.Errorf("EnvQuote(%q) = %s, want %s", in, got, want)
		}
	}
}

// FuzzEnvQuote: any value the inventory accepts is read back exactly by
// systemd's grammar and by ParseEnv.
func FuzzEnvQuote(f *testing.F) {
	for _, v := range hostileValues {
		f.Add(v)
	}
	f.Fuzz(func(t *testing.T, v string) {
		if inventory.CheckEnvValue(v) != "" {
			return
		}
		line := EnvLine("K", v)
		got, _, err := systemdParse(line)
		if err != nil || got["K"] != v {
			t.Fatalf("systemd reads %q as %q (%v), want %q", line, got["K"], err, v)
		}
		e, err := ParseEnv([]byte(line))
		if err != nil || len(e) != 1 || e[0].Value != v {
			t.Fatalf("ParseEnv(%q) = %v, %v", line, e, err)
		}
	})
}
