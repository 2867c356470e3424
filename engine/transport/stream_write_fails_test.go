package transport_test

import (
	"errors"
	"fmt"
	"io"
	"syscall"
	"testing"
	"time"

	"github.com/omni-fleet/omni/engine/transport"
	"github.com/omni-fleet/omni/internal/testkit/proctest"
	"github.com/omni-fleet/omni/internal/testkit/sshtest"
)

// failingWriter takes its first write, then fails every one after it with
// err, as a pipe does whose reader took what it wanted and left.
type failingWriter struct {
	writes int
	err    error
}

func (w *failingWriter) Write(p []byte) (int, error) {
	w.writes++
	if w.writes > 1 {
		return 0, w.err
	}
	return len(p), nil
}

// TestStreamEndsAtAFailedWrite: Stream (the logs step's path) of a command
// that never ends into a writer that fails (`omni service logs -f | head
// -n 1`). Stream returns at once with an *OutputError that keeps the
// writer's error (EPIPE), and the command no longer runs on the host.
// Before, x/crypto's copier kept the error until the command exited,
// which it never did: blocked on a full channel, it ran on. (Found by
// review.)
func TestStreamEndsAtAFailedWrite(t *testing.T) {
	srv := sshtest.Start(t, sshtest.Options{Addr: "127.0.51.50"})
	client := connect(t, newPool(t, transport.Options{}), srv.Endpoint("worker1"))
	word := fmt.Sprintf("omni-stream-write-fails-%d", time.Now().UnixNano())
	defer proctest.Kill("yes", word)
	w := &failingWriter{err: syscall.EPIPE}
	start := time.Now()
	code, err := client.Stream(testContext(t), "exec yes "+word, w, io.Discard)
	took := time.Since(start)
	var out *transport.OutputError
	if !errors.As(err, &out) || !errors.Is(err, syscall.EPIPE) || code != -1 {
		t.Fatalf("Stream into a closed pipe: exit %d, %v (%T), want an *OutputError of EPIPE", code, err, err)
	}
	if took > 5*time.Second {
		t.Errorf("Stream returned %s after the failed write", took.Round(time.Millisecond))
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(proctest.WithArgs("yes", word)) > 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if pids := proctest.WithArgs("yes", word); len(pids) > 0 {
		t.Errorf("the command still runs on the host after Stream returned: %v", pids)
	}
}
