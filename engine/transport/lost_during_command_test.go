package transport_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/omni-fleet/omni/engine/transport"
	"github.com/omni-fleet/omni/internal/testkit/sshtest"
)

// TestLostConnectionAfterOutputIsUnreachable: a command in the
// connection's shell has printed a line ("starting") when the host goes
// away (sshd and everything below it killed: a crash, a reboot, a reset
// link).
//
// What omni does: "worker1: the remote shell ended before running the
// command: starting", a plain error: the CLI counts the host failed
// (exit 1), not unreachable (exit 4, docs/exit-codes.md), and the message
// says the command never ran while it did. collect (engine/transport/
// shell.go) takes any output cut by the stream's end for what a login
// shell said when it refused to run the command, and checks
// sh.c.isLost() at once: x/crypto's mux closes the channels (the readers'
// EOF) before the connection's Wait returns and markLost runs, so the
// check is made before the loss is known. transportError, the path taken
// before, waits 200 ms for c.lost for that very reason.
//
// What it should do: report a lost connection as *UnreachableError
// whatever the command printed before it, and keep "ended before running
// the command" for a shell that ended without running it.
//
// The loss races the readers' EOF: the test tries up to 10 times (each
// misreports with a probability of about 2/3 on main) and fails at the
// first misreport.
func TestLostConnectionAfterOutputIsUnreachable(t *testing.T) {
	for i := 0; i < 10 && !t.Failed(); i++ {
		lostAfterOutput(t)
	}
}

func lostAfterOutput(t *testing.T) {
	srv := sshtest.Start(t, sshtest.Options{Addr: "127.0.81.1"})
	pool := newPool(t, transport.Options{})
	client := connect(t, pool, srv.Endpoint("worker1"))
	run(t, client, "true") // the shell runs: the next command is on its stdin

	marker := filepath.Join(t.TempDir(), "started")
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		_, err := client.Run(ctx, "echo starting; touch "+marker+"; sleep 30.81")
		done <- err
	}()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := os.Stat(marker); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the command did not start")
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond) // "starting" has reached the client
	srv.Stop()
	var err error
	select {
	case err = <-done:
	case <-time.After(15 * time.Second):
		t.Fatal("Run did not return after the server died")
	}
	var unreachable *transport.UnreachableError
	if !errors.As(err, &unreachable) {
		t.Errorf("the host died during a command that had printed a line: %v (%T), want *UnreachableError (exit 4)", err, err)
	}
}
