package cli

import (
	"strings"
	"testing"
	"time"
)

// TestMaxSessionsZeroIsSaid: the host's sshd_config says `MaxSessions 0`
// (a jump host that allows forwarding only, put in the inventory as a
// host by mistake). omni logs in, then every session is refused; it said
// only the true but cryptic `open session: ssh: rejected: connect failed
// ("open failed")` (left alone in earlier sessions' notes). Now it says
// what the host refuses and where to look.
func TestMaxSessionsZeroIsSaid(t *testing.T) {
	t.Parallel()
	inv, _, _ := reviewHost(t, "127.0.58.11", "MaxSessions 0", "root", "", "app", reviewSleeper("app", "600.58", ""))
	out, errOut, code, _ := omniInv(t, 30*time.Second, inv, "service", "status", "web1", "app")
	const want = "the host's sshd refuses this user a session (MaxSessions 0 in its sshd_config?)"
	if code == ExitOK || !strings.Contains(out+errOut, want) {
		t.Errorf("status against an sshd with MaxSessions 0: exit %d, want a failure saying %q\n%s%s", code, want, out, errOut)
	}
}
