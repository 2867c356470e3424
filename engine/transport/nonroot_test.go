package transport_test

import (
	"context"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/omni-fleet/omni/engine/transport"
	"github.com/omni-fleet/omni/internal/testkit/proctest"
	"github.com/omni-fleet/omni/internal/testkit/sshtest"
)

// deployUser is a local account with a POSIX login shell and passwordless
// sudo that the non-root tests log in as (scripts/install-test-deps.sh
// makes it; the root sshd of sshtest lets any user in with the test key:
// AuthorizedKeysFile is one absolute path). OpenSSH treats root logins
// differently: it refuses the "signal" request for them, so the tests that
// log in as root never see what a deploy user's session does.
const deployUser = "omnitest"

// nonRootEndpoint starts an sshd and returns an endpoint that logs in as
// deployUser. It needs root (to start an sshd that lets others in).
func nonRootEndpoint(t *testing.T, addr string) (transport.Endpoint, *user.User) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to log in as another user")
	}
	u, err := user.Lookup(deployUser)
	if err != nil {
		t.Fatalf("no user %s: scripts/install-test-deps.sh makes it", deployUser)
	}
	srv := sshtest.Start(t, sshtest.Options{Addr: addr})
	// sshd reads authorized_keys as the user: let it.
	for d := srv.Dir; d != "/" && d != "."; d = filepath.Dir(d) {
		if strings.HasPrefix(d, os.TempDir()+"/") {
			os.Chmod(d, 0o755)
		}
	}
	os.Chmod(filepath.Join(srv.Dir, "authorized_keys"), 0o644)
	ep := srv.Endpoint("worker1")
	ep.User = u.Username
	return ep, u
}

// TestNonRootInterruptedRunSparesEarlierDaemon is
// TestInterruptedRunSparesEarlierCommandsProcesses for a non-root login,
// the usual deploy user. remoteShell.kill first sends the SSH "signal"
// request (SIGKILL), which OpenSSH carries out for a non-root login as
// killpg(session's pid, SIGKILL): the shell's whole process group, the
// daemon an earlier command started with nohup & included. So the tree
// walk of 167b132 does not spare it: the daemon still dies when a later
// command times out.
func TestNonRootInterruptedRunSparesEarlierDaemon(t *testing.T) {
	ep, _ := nonRootEndpoint(t, "127.0.0.201")
	client := connect(t, newPool(t, transport.Options{}), ep)

	res := run(t, client, "nohup sleep 301 >/dev/null 2>&1 </dev/null & echo $!")
	pid, err := strconv.Atoi(strings.TrimSpace(string(res.Stdout)))
	if err != nil {
		t.Fatalf("no pid: %q", res.Stdout)
	}
	t.Cleanup(func() { syscall.Kill(pid, syscall.SIGKILL) })
	if !proctest.Alive(pid) {
		t.Fatalf("daemon %d not running", pid)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if _, err := client.Run(ctx, "sh -c 'sleep 31.25 & sleep 31.5'"); err == nil {
		t.Fatal("a 31s command with a 1s deadline succeeded")
	}
	waitGone(t, 5*time.Second, "sleep", "31.25")
	waitGone(t, 5*time.Second, "sleep", "31.5")
	time.Sleep(200 * time.Millisecond)
	if !proctest.Alive(pid) {
		t.Errorf("non-root login: the daemon (pid %d) an earlier command started with nohup & was killed when a later command timed out", pid)
	}
}

// TestNonRootInterruptedSudoRunIsKilled: a deploy user's command
// under `sudo -n` (as the service managers send for sudo: true) passes its
// deadline in the connection's shell. It must not run on as root.
func TestNonRootInterruptedSudoRunIsKilled(t *testing.T) {
	ep, _ := nonRootEndpoint(t, "127.0.0.204")
	client := connect(t, newPool(t, transport.Options{}), ep)
	if res := run(t, client, "sudo -n true && echo ok"); strings.TrimSpace(string(res.Stdout)) != "ok" {
		t.Fatalf("%s has no passwordless sudo: scripts/install-test-deps.sh gives it", ep.User)
	}
	defer proctest.Kill("sleep", "33.5")
	defer proctest.Kill("sleep", "33.25")
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if _, err := client.Run(ctx, "sudo -n sh -c 'sleep 33.25 & sleep 33.5'"); err == nil {
		t.Fatal("a 33s command with a 1s deadline succeeded")
	}
	waitGone(t, 5*time.Second, "sleep", "33.5")
	waitGone(t, 5*time.Second, "sleep", "33.25")
}
