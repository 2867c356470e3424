package transport

import (
	"testing"

	"github.com/omni-fleet/omni/internal/shell"
)

// TestOwnShell: only `sh -c` (or `sudo -n sh -c`) followed by exactly one
// word as Quote writes it is run as it stands; anything else gets an
// `sh -c` of its own, so nothing after the word can run in the shell.
func TestOwnShell(t *testing.T) {
	for _, script := range []string{"", "echo hi", "it's", "'", "''", `a\'b`, "x'; rm -rf /tmp/x; echo '", "line\nline", "$(id) `id`"} {
		for _, prefix := range []string{"sh -c ", "sudo -n sh -c "} {
			if cmd := prefix + shell.Quote(script); !ownShell.MatchString(cmd) {
				t.Errorf("%q is not run as it stands", cmd)
			}
		}
	}
	for _, cmd := range []string{
		"sh -c 'a' 'b'",
		"sh -c 'a'; rm -rf /tmp/x",
		"sh -c 'a' && true",
		"sh -c a",
		"sh -c 'a'b",
		"sh -c 'a",
		"sh -c 'a'\n",
		"bash -c 'a'",
		"sudo sh -c 'a'",
		"sudo -n -u x sh -c 'a'",
		"systemctl show -p ActiveState -- 'a.service'",
		" sh -c 'a'",
		"sh -c ",
		"sh -c  'a'",
		"sudo -n sudo -n sh -c 'a'",
		"sh -c 'a'\\",
	} {
		if ownShell.MatchString(cmd) {
			t.Errorf("%q would run as it stands", cmd)
		}
	}
}
