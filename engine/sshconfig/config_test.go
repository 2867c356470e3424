package sshconfig

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func parse(t *testing.T, text string) *Config {
	t.Helper()
	c, err := Parse("ssh_config", []byte(text))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return c
}

const sample = `# a comment
Host fleet-a
    HostName 10.0.3.1
    Port 2201
    User deploy
    IdentityFile ~/.ssh/fleet_%r
    IdentityFile /keys/second

Host fleet-b fleet-c !fleet-x
    HostName %h.internal.example
    ProxyJump admin@jump:2222,ssh://inner

Host direct.corp
    ProxyJump none

Host *.corp
    User=corp-user
    ProxyCommand nc %h %p

Host fleet-*
    Port 2299
    User ignored-for-fleet-a
    UserKnownHostsFile ~/fleet/known_hosts ~/.ssh/known_hosts2

Host *
    User everyone
    IdentityFile ~/.ssh/id_default
`

func TestLookup(t *testing.T) {
	c := parse(t, sample)
	for _, tc := range []struct {
		alias string
		want  Host
	}{
		{"fleet-a", Host{Alias: "fleet-a", HostName: "10.0.3.1", Port: 2201, User: "deploy",
			IdentityFiles:  []string{"~/.ssh/fleet_%r", "/keys/second", "~/.ssh/id_default"},
			KnownHostsFile: "~/fleet/known_hosts", MoreKnownHostsFiles: []string{"~/.ssh/known_hosts2"}}},
		{"fleet-b", Host{Alias: "fleet-b", HostName: "fleet-b.internal.example", Port: 2299, User: "ignored-for-fleet-a",
			IdentityFiles: []string{"~/.ssh/id_default"}, KnownHostsFile: "~/fleet/known_hosts", MoreKnownHostsFiles: []string{"~/.ssh/known_hosts2"},
			ProxyJump: []Jump{{User: "admin", Host: "jump", Port: 2222}, {Host: "inner"}}, ProxyLine: 11}},
		// Negated: the fleet-b block is skipped, fleet-* still applies.
		{"fleet-x", Host{Alias: "fleet-x", Port: 2299, User: "ignored-for-fleet-a",
			IdentityFiles: []string{"~/.ssh/id_default"}, KnownHostsFile: "~/fleet/known_hosts", MoreKnownHostsFiles: []string{"~/.ssh/known_hosts2"}}},
		{"db.corp", Host{Alias: "db.corp", User: "corp-user", IdentityFiles: []string{"~/.ssh/id_default"},
			ProxyCommand: "nc %h %p", ProxyLine: 18}},
		// The first of ProxyJump and ProxyCommand wins: "none", before the *.corp ProxyCommand.
		{"direct.corp", Host{Alias: "direct.corp", User: "corp-user", IdentityFiles: []string{"~/.ssh/id_default"}, ProxyLine: 14}},
		{"other", Host{Alias: "other", User: "everyone", IdentityFiles: []string{"~/.ssh/id_default"}}},
	} {
		t.Run(tc.alias, func(t *testing.T) {
			got, err := c.Lookup(tc.alias)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Lookup(%q):\n got %+v\nwant %+v", tc.alias, got, tc.want)
			}
		})
	}
}

func TestLookupEmpty(t *testing.T) {
	var nilConfig *Config
	for _, c := range []*Config{nilConfig, {Path: "x"}, parse(t, "")} {
		got, err := c.Lookup("a")
		if err != nil || !reflect.DeepEqual(got, Host{Alias: "a"}) {
			t.Errorf("Lookup on an empty config = %+v, %v", got, err)
		}
	}
}

func TestLookupErrors(t *testing.T) {
	for _, tc := range []struct{ config, want string }{
		{"Host a\n  Port 22x\n", `ssh_config:2: Port "22x" is not a port number (1-65535)`},
		{"Host a\n  Port 0\n", `ssh_config:2: Port "0" is not a port number (1-65535)`},
		{"\n\nHost *\n  ProxyJump j1,,j2\n", `ssh_config:4: ProxyJump "j1,,j2": empty hop`},
		{"Host a\n  HostName %r.example\n", `ssh_config:2: HostName "%r.example": token %r is not allowed in HostName (only %h and %%)`},
	} {
		_, err := parse(t, tc.config).Lookup("a")
		var cfgErr *Error
		if !errors.As(err, &cfgErr) || err.Error() != tc.want {
			t.Errorf("%q: error %v, want %s", tc.config, err, tc.want)
		}
	}
}

func TestMatch(t *testing.T) {
	c := parse(t, `Match exec "test -f /nonexistent"
  User from-exec
Match host a,b*
  Port 2022
Match originalhost c
  Port 2023
Match user root host a
  HostName never
Match all
  User everyone
`)
	want := []string{
		`ssh_config:1: "Match exec \"test -f /nonexistent\"" is not supported: its block is ignored`,
		`ssh_config:7: "Match user root host a" is not supported: its block is ignored`,
	}
	if !reflect.DeepEqual(c.Warnings, want) {
		t.Errorf("Warnings:\n got %q\nwant %q", c.Warnings, want)
	}
	for alias, want := range map[string]Host{
		"a":   {Alias: "a", Port: 2022, User: "everyone"},
		"bee": {Alias: "bee", Port: 2022, User: "everyone"},
		"c":   {Alias: "c", Port: 2023, User: "everyone"},
	} {
		if got, err := c.Lookup(alias); err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("Lookup(%q) = %+v, %v; want %+v", alias, got, err, want)
		}
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()

	c, err := Load(filepath.Join(dir, "missing"))
	if err != nil || c == nil {
		t.Fatalf("Load(missing) = %v, %v; want an empty config", c, err)
	}
	if h, _ := c.Lookup("x"); !reflect.DeepEqual(h, Host{Alias: "x"}) {
		t.Errorf("missing file: Lookup = %+v", h)
	}

	if c, err := Load("none"); err != nil || c == nil {
		t.Errorf("Load(none) = %v, %v; want an empty config", c, err)
	} else if h, _ := c.Lookup("x"); !reflect.DeepEqual(h, Host{Alias: "x"}) {
		t.Errorf("none: Lookup = %+v", h)
	}

	// An Include'd file (absolute path: relative ones are under ~/.ssh)
	// gets what the top file gets: a Match omni cannot evaluate is
	// ignored with a warning naming the included file and its line.
	bad := filepath.Join(dir, "bad.conf")
	if err := os.WriteFile(bad, []byte("Match exec true\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "config")
	if err := os.WriteFile(path, []byte("Host a\n  User u\n  Include "+bad+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err = Load(path)
	if want := []string{bad + `:1: "Match exec true" is not supported: its block is ignored`}; err != nil || !reflect.DeepEqual(c.Warnings, want) {
		t.Errorf("Load with an unsupported Match in an Include = %v; warnings %q, want %q", err, c.Warnings, want)
	}

	// A line of an Include'd file that cannot be used: the error names
	// that file and its line.
	if err := os.WriteFile(bad, []byte("Port 22\nHost\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = Load(path)
	var cfgErr *Error
	if !errors.As(err, &cfgErr) || cfgErr.File != bad || cfgErr.Line != 2 || !strings.Contains(cfgErr.Msg, "Host needs at least one pattern") {
		t.Errorf("Load with a bad Include = %v; want %s:2: Host needs at least one pattern", err, bad)
	}

	// A good Include applies where it is.
	good := filepath.Join(dir, "good.conf")
	if err := os.WriteFile(good, []byte("Port 2200\nHostName 10.9.9.9\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("Host a\n  Include "+good+"\n  Port 22\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err = Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if h, err := c.Lookup("a"); err != nil || h.Port != 2200 || h.HostName != "10.9.9.9" {
		t.Errorf("Lookup through Include = %+v, %v; want port 2200 from the included file", h, err)
	}

	if err := os.Chmod(path, 0); err == nil && os.Geteuid() != 0 {
		if _, err := Load(path); err == nil || !strings.Contains(err.Error(), "read ssh config") {
			t.Errorf("unreadable file: %v", err)
		}
	}
}

func TestDefaultPath(t *testing.T) {
	t.Setenv("HOME", "/home/someone")
	if got, want := DefaultPath(), "/home/someone/.ssh/config"; got != want {
		t.Errorf("DefaultPath() = %q, want %q", got, want)
	}
}
