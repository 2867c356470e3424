package transport_test

import (
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/omni-fleet/omni/engine/transport"
	"github.com/omni-fleet/omni/internal/testkit/proctest"
	"github.com/omni-fleet/omni/internal/testkit/sshtest"
)

// TestEndShellAhead: EndShellAhead ends the idle shell without waiting
// for it (no round trip counted); the shell exits on the host by itself,
// the next Run starts another in a new session, and Close still waits for
// every shell to have exited before the connection goes.
func TestEndShellAhead(t *testing.T) {
	t.Parallel()
	srv := sshtest.Start(t, sshtest.Options{Addr: "127.0.0.27", ExtraConfig: "LogLevel VERBOSE"})

	t.Run("the shell exits by itself; the next Run starts another", func(t *testing.T) {
		pool := transport.NewPool(transport.Options{})
		client := connect(t, pool, srv.Endpoint("worker1"))
		first, err := strconv.Atoi(shellPID(t, client))
		if err != nil {
			t.Fatal(err)
		}
		before := client.RoundTrips()
		client.EndShellAhead()
		client.EndShellAhead() // once only: there is no shell now
		if got := client.RoundTrips(); got != before {
			t.Errorf("EndShellAhead counted %+v, want %+v: it waits for nothing", got, before)
		}
		deadline := time.Now().Add(10 * time.Second)
		for proctest.Alive(first) && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if proctest.Alive(first) {
			t.Fatalf("the shell %d still runs 10 s after its end was sent", first)
		}
		sessionsBefore := sessions(t, srv)
		second, err := strconv.Atoi(shellPID(t, client))
		if err != nil {
			t.Fatal(err)
		}
		if second == first {
			t.Errorf("the Run after the end ran in the ended shell %d", first)
		}
		if n := sessions(t, srv) - sessionsBefore; n != 1 {
			t.Errorf("the Run after the end opened %d sessions, want 1 (a new shell)", n)
		}
		if err := pool.Close(); err != nil {
			t.Fatal(err)
		}
		if err := syscall.Kill(second, 0); err == nil {
			t.Errorf("the second shell %d still runs after Close", second)
		}
		if got := client.RoundTrips().ShellEnds; got != 1 {
			t.Errorf("shell ends counted %d, want 1: the second shell's, at Close", got)
		}
	})

	t.Run("Close right after waits for the shell ended ahead", func(t *testing.T) {
		pool := transport.NewPool(transport.Options{})
		client := connect(t, pool, srv.Endpoint("worker1"))
		pid, err := strconv.Atoi(shellPID(t, client))
		if err != nil {
			t.Fatal(err)
		}
		client.EndShellAhead()
		if err := pool.Close(); err != nil {
			t.Fatal(err)
		}
		if err := syscall.Kill(pid, 0); err == nil {
			t.Errorf("the shell %d still runs after Close", pid)
		}
		if got := client.RoundTrips().ShellEnds; got != 0 {
			t.Errorf("shell ends counted %d, want 0: its end was sent ahead", got)
		}
	})
}
