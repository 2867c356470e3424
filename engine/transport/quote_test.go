package transport_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/omni-fleet/omni/engine/transport"
)

// shellOutput runs script with sh and returns what it printed.
func shellOutput(t testing.TB, script string, env ...string) string {
	t.Helper()
	cmd := exec.Command("sh", "-c", script)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("sh -c %q: %v\n%s", script, err, out)
	}
	return string(out)
}

var hostileStrings = []string{
	"",
	"plain",
	"with space",
	"it's",
	"''",
	`"double"`,
	`back\slash`,
	"$(touch /tmp/omni-quote-pwned)",
	"`touch /tmp/omni-quote-pwned`",
	"${HOME}",
	"$HOME",
	"line1\nline2",
	"tab\there",
	"*",
	"a;b&&c||d|e",
	"<in >out",
	"~root",
	"#comment",
	"-n",
	"X=y",
	"!",
	"ümlaut",
	"\x01\x7f",
}

func TestQuoteSurvivesTheShell(t *testing.T) {
	for _, s := range hostileStrings {
		got := shellOutput(t, "printf %s "+transport.Quote(s))
		if got != s {
			t.Errorf("sh -c \"printf %%s \"%s printed %q, want %q", transport.Quote(s), got, s)
		}
	}
	if _, err := os.Stat("/tmp/omni-quote-pwned"); err == nil {
		t.Error("a quoted string ran a command")
	}
}

func TestQuote(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", "''"},
		{"nginx.service", "nginx.service"},
		{"/var/log/app-1/out_2.log", "/var/log/app-1/out_2.log"},
		{"user@host:22,%+", "user@host:22,%+"},
		{"with space", "'with space'"},
		{"it's", `'it'\''s'`},
		{"X=y", "'X=y'"},
		{"$(id)", "'$(id)'"},
	}
	for _, tt := range tests {
		if got := transport.Quote(tt.in); got != tt.want {
			t.Errorf("Quote(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

func FuzzQuote(f *testing.F) {
	for _, s := range hostileStrings {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if strings.ContainsRune(s, 0) {
			t.Skip("a NUL cannot be passed to a command")
		}
		if got := shellOutput(t, "printf %s "+transport.Quote(s)); got != s {
			t.Errorf("printed %q, want %q", got, s)
		}
	})
}

func TestSudo(t *testing.T) {
	if got, want := transport.Sudo("systemctl stop 'my app'"), `sudo -n sh -c 'systemctl stop '\''my app'\'''`; got != want {
		t.Errorf("Sudo = %s, want %s", got, want)
	}

	// Run it through a stand-in sudo that insists on -n and runs the rest.
	bin := t.TempDir()
	fakeSudo := "#!/bin/sh\n[ \"$1\" = -n ] || { echo 'sudo without -n' >&2; exit 99; }\nshift\nexec \"$@\"\n"
	if err := os.WriteFile(filepath.Join(bin, "sudo"), []byte(fakeSudo), 0o755); err != nil {
		t.Fatal(err)
	}
	inner := "printf '%s|' " + transport.Quote("it's $HOME") + " " + transport.Quote("`id`")
	got := shellOutput(t, transport.Sudo(inner), "PATH="+bin+":"+os.Getenv("PATH"))
	if want := "it's $HOME|`id`|"; got != want {
		t.Errorf("sudo command printed %q, want %q", got, want)
	}
}
