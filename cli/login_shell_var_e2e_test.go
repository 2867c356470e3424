package cli

import (
	"strings"
	"testing"
	"time"
)

// TestShellVariableIsNotCsh (found by review): the deploy user's login shell is
// zsh, and its ~/.zshenv (read by every zsh, `zsh -c` included) sets a
// plain, unexported variable named `shell` (shell=zsh, as a prompt or
// dotfiles helper might). Nothing about that is csh.
//
// Expected: `service start` and `service status` work, as they do for a
// zsh user without that line (TestLoginShellsOtherThanSh).
//
// Observed: every command line begins with cshGuard, `test -z "$shell" ||
// exec /bin/sh -c '...is a csh...'`: zsh has $shell set by the user, so
// omni refuses every command with "the login shell of this user, zsh, is
// a csh: omni runs its commands through a POSIX shell ... change it with
// chsh", which is false. The same holds for a bash user whose ~/.bashrc
// sets shell= before its interactive check. Cause:
// engine/transport/ownshell.go cshGuard takes a non-empty $shell (an
// ordinary variable name in every POSIX shell and in fish) for proof of
// csh.
func TestShellVariableIsNotCsh(t *testing.T) {
	u := reviewHostUser(t, "omnio1zsv", "/usr/bin/zsh", map[string]string{
		".zshenv": "shell=zsh\n",
	})
	inv, _, _ := reviewHost(t, "127.0.54.11", "", u, "", "app", reviewSleeper("app", "600.541", ""))
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"service", "start", "web1", "app"}, "Status:           Running"},
		{[]string{"service", "status", "web1", "app"}, "Running"},
		{[]string{"service", "stop", "web1", "app"}, "Status:           Stopped"},
	} {
		out, errOut, code, _ := omniInv(t, 30*time.Second, inv, c.args...)
		if code != ExitOK || !strings.Contains(out, c.want) {
			t.Errorf("omni %s, zsh login shell with shell=zsh in ~/.zshenv: exit %d, want 0 and %q\n%s%s",
				strings.Join(c.args, " "), code, c.want, out, errOut)
		}
	}
}
