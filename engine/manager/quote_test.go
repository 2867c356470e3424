package manager

import (
	"os/exec"
	"testing"
)

func TestQuote(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", `''`},
		{"omni-x.service", `'omni-x.service'`},
		{"it's", `'it'\''s'`},
		{"''", `''\'''\'''`},
		{"-rf", `'-rf'`},
		{"a b\tc\nd", "'a b\tc\nd'"},
		{`$(reboot); "x" \n *`, `'$(reboot); "x" \n *'`},
	}
	for _, tt := range tests {
		if got := Quote(tt.in); got != tt.want {
			t.Errorf("Quote(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

// TestQuoteRoundTrip has a real sh read back each quoted word.
func TestQuoteRoundTrip(t *testing.T) {
	for _, s := range []string{
		"", "plain", "it's", "'", "'''", `\`, `\'`, "$HOME", "`id`", "$(id)", "a;b&&c|d",
		"new\nline", "tab\there", "*", "~root", "-n", "--", "!", "#comment", "ünïcødé",
		"weird unit@it's;$(touch /tmp/pwned)`x`.service",
	} {
		out, err := exec.Command("sh", "-c", "printf %s "+Quote(s)).Output()
		if err != nil {
			t.Fatalf("sh with %s: %v", Quote(s), err)
		}
		if string(out) != s {
			t.Errorf("sh read %s as %q, want %q", Quote(s), out, s)
		}
	}
}
