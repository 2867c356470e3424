package sshconfig

import (
	"os"
	"path/filepath"
	"testing"
)

// TestReviewQuestionMarkMatchesExactlyOneCharacter (found by review): a
// `?` in a Host pattern stands for exactly one character in OpenSSH
// (`ssh -G web` does not match `Host web?`), but the parser compiles it to
// the regular expression `.?`, so omni applies the block of `Host web?` to
// the host `web` as well: its Port, User, HostName or ProxyJump.
func TestReviewQuestionMarkMatchesExactlyOneCharacter(t *testing.T) {
	c := parse(t, "Host web?\n    Port 2201\n    User fleet-worker\n")
	h, err := c.Lookup("web1")
	if err != nil || h.Port != 2201 {
		t.Fatalf("Lookup(web1) = %+v, %v; want the block of Host web? (port 2201)", h, err)
	}
	h, err = c.Lookup("web")
	if err != nil {
		t.Fatal(err)
	}
	if h.Port != 0 || h.User != "" {
		t.Fatalf("Lookup(web) = port %d user %q: the block of `Host web?` applies to `web`, which ssh does not match (? is exactly one character)", h.Port, h.User)
	}
}

// TestReviewMatchHostListInIncludedFile (found by review): docs/ssh-config.md
// says `Match host PATTERNS` works with comma-separated patterns; in a file
// read through Include (the usual ~/.ssh/config.d/*), the comma list is not
// split (dropUnsupportedMatches rewrites only the top file), so the block
// silently matches none of the listed hosts, with no warning and no error.
func TestReviewMatchHostListInIncludedFile(t *testing.T) {
	dir := t.TempDir()
	included := filepath.Join(dir, "fleet.conf")
	if err := os.WriteFile(included, []byte("Match host web1,web2\n    Port 2201\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	top := filepath.Join(dir, "config")
	if err := os.WriteFile(top, []byte("Include "+included+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(top)
	if err != nil {
		// An error naming the line would be acceptable too: not silence.
		return
	}
	h, err := c.Lookup("web1")
	if err != nil {
		return
	}
	if h.Port != 2201 && len(c.Warnings) == 0 {
		t.Fatalf("Lookup(web1) = port %d: `Match host web1,web2` in the Include'd %s does not apply to web1, and nothing says so (no error, no warning)", h.Port, included)
	}
}
