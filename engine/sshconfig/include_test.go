package sshconfig

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, text := range files {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// A relative Include is under ~/.ssh, as for ssh; a glob's files are read
// in sorted order, so the first value in the first file wins.
func TestIncludeRelativeUnderDotSSH(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	writeFiles(t, home, map[string]string{
		".ssh/config.d/20-fleet.conf": "Host web?\n    Port 2202\n    User second\n",
		".ssh/config.d/10-fleet.conf": "Host web?\n    Port 2201\n",
	})
	top := filepath.Join(t.TempDir(), "config") // not under ~/.ssh itself
	if err := os.WriteFile(top, []byte("Include config.d/*.conf\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(top)
	if err != nil {
		t.Fatal(err)
	}
	h, err := c.Lookup("web1")
	if err != nil || h.Port != 2201 || h.User != "second" {
		t.Fatalf("Lookup(web1) = %+v, %v; want port 2201 (10-fleet.conf) and user second (20-fleet.conf)", h, err)
	}
}

// An Include inside a block applies only where the block applies, the
// included file's own blocks only within it, and after the Include the
// enclosing block is in force again, as in ssh's readconf.c.
func TestIncludeKeepsTheEnclosingBlock(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"inc.conf": "User from-include\nHost db*\n    Port 2299\n",
		"config": "Host web1 db1\n    Include " + filepath.Join(dir, "inc.conf") + "\n    HostName after.include\n" +
			"Host *\n    IdentityFile ~/.ssh/all\n",
	})
	c, err := Load(filepath.Join(dir, "config"))
	if err != nil {
		t.Fatal(err)
	}
	for alias, want := range map[string]Host{
		// The included Host db* block leaves web1; the line after the
		// Include is web1's again, not db*'s.
		"web1": {Alias: "web1", User: "from-include", HostName: "after.include", IdentityFiles: []string{"~/.ssh/all"}},
		"db1":  {Alias: "db1", User: "from-include", Port: 2299, HostName: "after.include", IdentityFiles: []string{"~/.ssh/all"}},
		// Outside the enclosing block, the included file's Host db* never
		// applies either.
		"db2": {Alias: "db2", IdentityFiles: []string{"~/.ssh/all"}},
	} {
		got, err := c.Lookup(alias)
		if err != nil || got.Alias != want.Alias || got.User != want.User || got.Port != want.Port ||
			got.HostName != want.HostName || strings.Join(got.IdentityFiles, ",") != strings.Join(want.IdentityFiles, ",") {
			t.Errorf("Lookup(%s) = %+v, %v; want %+v", alias, got, err, want)
		}
	}
}

// An error in an included file, or in the Include line, names the file
// and the line; a file that includes itself stops at ssh's depth limit.
func TestIncludeErrors(t *testing.T) {
	dir := t.TempDir()
	self := filepath.Join(dir, "self.conf")
	writeFiles(t, dir, map[string]string{"self.conf": "Port 22\nInclude " + self + "\n"})
	_, err := Load(self)
	var cfgErr *Error
	if !errors.As(err, &cfgErr) || cfgErr.File != self || cfgErr.Line != 2 || !strings.Contains(cfgErr.Msg, "more than 16 levels") {
		t.Errorf("Load of a file that includes itself = %v; want %s:2: ... more than 16 levels", err, self)
	}
	// A missing file, or a glob matching nothing, is no error (as in ssh).
	top := filepath.Join(dir, "config")
	writeFiles(t, dir, map[string]string{"config": "Include " + filepath.Join(dir, "missing.conf") + " " + filepath.Join(dir, "none.d", "*") + "\nPort 2200\n"})
	if c, err := Load(top); err != nil {
		t.Errorf("Include of missing files: %v", err)
	} else if h, _ := c.Lookup("x"); h.Port != 2200 {
		t.Errorf("Lookup after an Include of missing files = %+v", h)
	}
}

func TestMatchPattern(t *testing.T) {
	for _, tc := range []struct {
		host, pattern string
		want          bool
	}{
		{"web1", "web?", true},
		{"web", "web?", false},
		{"web12", "web?", false},
		{"web", "web*", true},
		{"web12", "w*1?", true},
		{"a.b.c", "*.c", true},
		{"abc", "a*b*c", true},
		{"abxc", "a*b?c", true},
		{"ac", "a*b*c", false},
		{"", "*", true},
		{"", "?", false},
	} {
		if got := matchPattern(tc.host, tc.pattern); got != tc.want {
			t.Errorf("matchPattern(%q, %q) = %v, want %v", tc.host, tc.pattern, got, tc.want)
		}
	}
	for _, tc := range []struct {
		host     string
		patterns []string
		anyCase  bool
		want     bool
	}{
		{"WEB1", []string{"web1"}, false, true},
		// A Host line's pattern is taken as written, against the
		// lowercased name: `Host WEB*` matches nothing in ssh.
		{"web1", []string{"WEB*"}, false, false},
		{"web1", []string{"WEB*"}, true, true}, // Match host: any case
		{"web1", []string{"web*", "!web1"}, false, false},
		{"web2", []string{"web*", "!web1"}, false, true},
		{"web1", []string{"!web2"}, false, false}, // a negation alone matches nothing
	} {
		if got := matchList(tc.host, tc.patterns, tc.anyCase); got != tc.want {
			t.Errorf("matchList(%q, %q) = %v, want %v", tc.host, tc.patterns, got, tc.want)
		}
	}
}
