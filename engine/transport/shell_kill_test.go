package transport_test

import (
	"context"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/omni-fleet/omni/engine/transport"
	"github.com/omni-fleet/omni/internal/testkit/proctest"
	"github.com/omni-fleet/omni/internal/testkit/sshtest"
)

// TestInterruptedRunSparesEarlierCommandsProcesses: a command that runs
// past its deadline is killed with its process group (docs/reliability.md:
// "the command's remote process group"). A service started by an EARLIER
// command of the same connection with `nohup … &` (no setsid, as many
// command-manager starts are written) must not die with it. Because every
// command runs in the connection's long-lived shell, they all share the
// shell's process group, and the kill of the later command's group
// SIGKILLs the earlier command's daemon too. (With one session per
// command, as before the shell, each command had a group of its own.)
//
// Seen end to end: `omni service start host1 needy` where needy requires
// plain (start: nohup sleep 1000 … &) and needy's start times out: plain
// is reported "Started … healthy", then SIGKILLed by needy's timeout.
func TestInterruptedRunSparesEarlierCommandsProcesses(t *testing.T) {
	srv := sshtest.Start(t, sshtest.Options{Addr: "127.0.0.191"})
	client := connect(t, newPool(t, transport.Options{}), srv.Endpoint("worker1"))

	res := run(t, client, "nohup sleep 300 >/dev/null 2>&1 </dev/null & echo $!")
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
	// The command in flight, and what it started below it, are killed.
	if _, err := client.Run(ctx, "sh -c 'sleep 31.25 & sleep 31.5'"); err == nil {
		t.Fatal("a 31s command with a 1s deadline succeeded")
	}
	waitGone(t, 5*time.Second, "sleep", "31.25")
	waitGone(t, 5*time.Second, "sleep", "31.5")
	if !proctest.Alive(pid) {
		t.Errorf("the daemon (pid %d) started by an earlier command was killed when a later, unrelated command timed out", pid)
	}
}
