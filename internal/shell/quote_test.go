package shell

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

var hostileStrings = []string{
	"", "plain", "with space", "it's", "'", "''", "'''", `"double"`, `\`, `\'`, `back\slash`,
	"$(touch /tmp/omni-quote-pwned)", "`touch /tmp/omni-quote-pwned`", "${HOME}", "$HOME",
	"line1\nline2", "tab\there", "*", "a;b&&c||d|e", "<in >out", "~root", "#comment",
	"-n", "--", "X=y", "!", "ümlaut", "\x01\x7f",
	"weird unit@it's;$(touch /tmp/omni-quote-pwned)`x`.service",
}

func TestQuote(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", `''`},
		{"omni-x.service", `'omni-x.service'`},
		{"it's", `'it'\''s'`},
		{"''", `''\'''\'''`},
		{"-rf", `'-rf'`},
		{"X=y", `'X=y'`},
		{"a b\tc\nd", "'a b\tc\nd'"},
		{`$(reboot); "x" \n *`, `'$(reboot); "x" \n *'`},
	}
	for _, tt := range tests {
		if got := Quote(tt.in); got != tt.want {
			t.Errorf("Quote(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

// printed has a real sh print the quoted word back.
func printed(t testing.TB, s string) string {
	t.Helper()
	out, err := exec.Command("sh", "-c", "printf %s "+Quote(s)).Output()
	if err != nil {
		t.Fatalf("sh with %s: %v", Quote(s), err)
	}
	return string(out)
}

func TestQuoteSurvivesTheShell(t *testing.T) {
	for _, s := range hostileStrings {
		if got := printed(t, s); got != s {
			t.Errorf("sh read %s as %q, want %q", Quote(s), got, s)
		}
	}
	if _, err := os.Stat("/tmp/omni-quote-pwned"); err == nil {
		t.Error("a quoted string ran a command")
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
		if got := printed(t, s); got != s {
			t.Errorf("printed %q, want %q", got, s)
		}
	})
}

// TestQuoteAnyEveryLoginShell: a word QuoteAny wrote is read back as it
// was by every login shell a deploy user may have: sh (dash), bash, zsh,
// ksh, fish, and csh/tcsh for words without a newline. Each shell runs
// `exec sh -c WORD` as sshd would hand it a command line, WORD a script
// that prints a hostile string, quoted for sh with Quote.
func TestQuoteAnyEveryLoginShell(t *testing.T) {
	for _, sh := range []string{"sh", "bash", "zsh", "ksh", "fish", "tcsh"} {
		path, err := exec.LookPath(sh)
		if err != nil {
			if true {
				t.Fatalf("no %s (scripts/install-test-deps.sh installs it)", sh)
			}
			t.Logf("no %s here: not tried", sh)
			continue
		}
		for _, s := range hostileStrings {
			if strings.Contains(s, "\n") && strings.HasSuffix(path, "csh") {
				continue
			}
			line := "exec sh -c " + QuoteAny("printf %s "+Quote(s))
			out, err := exec.Command(path, "-c", line).Output()
			if err != nil || string(out) != s {
				t.Errorf("%s -c %s: %q (%v), want %q", sh, line, out, err, s)
			}
		}
	}
	if _, err := os.Stat("/tmp/omni-quote-pwned"); err == nil {
		t.Error("a quoted word ran a command")
	}
	for in, want := range map[string]string{"": `''`, "a": `'a'`, "it's": `'it'\''s'`, `\`: `\\`, "a!": `'a'\!`} {
		if got := QuoteAny(in); got != want {
			t.Errorf("QuoteAny(%q) = %s, want %s", in, got, want)
		}
	}
}
