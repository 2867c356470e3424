package transport_test

import (
	"context"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/omni-fleet/omni/engine/transport"
	"github.com/omni-fleet/omni/internal/testkit/sshtest"
)

// TestRunOnceReturnsDespiteChattyDaemon: in a session of its own (RunOnce,
// Stream, or Run when the shell is busy), exec reads the output after the
// exit status until it has been quiet for 250 ms. A daemon that keeps the
// output and writes more often than that held the command until the
// caller's deadline, which then failed it ("command interrupted"),
// although it exited 0 at once: the output is now read for 2 s at most
// after the exit status.
func TestRunOnceReturnsDespiteChattyDaemon(t *testing.T) {
	srv := sshtest.Start(t, sshtest.Options{Addr: "127.0.0.192"})
	client := connect(t, newPool(t, transport.Options{}), srv.Endpoint("worker1"))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	start := time.Now()
	res, err := client.RunOnce(ctx, `setsid sh -c 'echo $$ >&2; while :; do echo tick; sleep 0.1; done' & sleep 0.2; exit 0`)
	took := time.Since(start)
	// the daemon's PID is the first line of stderr
	if f := strings.Fields(string(res.Stderr)); len(f) > 0 {
		if pid, e := strconv.Atoi(f[0]); e == nil {
			defer syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	if err != nil || res.ExitCode != 0 || took > 3*time.Second {
		t.Errorf("a command that exited 0 after 0.2s took %s: exit %d, %v", took, res.ExitCode, err)
	}
}
