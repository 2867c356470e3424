package transport_test

import (
	"io"
	"strconv"
	"testing"
	"time"

	"github.com/omni-fleet/omni/engine/transport"
	"github.com/omni-fleet/omni/internal/testkit/sshtest"
)

// slowWriter blocks its first Write for a while, as a pager does that has
// not been scrolled yet (omni service logs ... | less), then takes all.
type slowWriter struct {
	n     int
	first bool
	pause time.Duration
}

func (w *slowWriter) Write(p []byte) (int, error) {
	if !w.first {
		w.first = true
		time.Sleep(w.pause)
	}
	w.n += len(p)
	return len(p), nil
}

// TestStreamSlowReaderGetsAll: Stream (the logs step's path) into a writer
// that is slow to take the output. The command writes a little more than
// the channel's window (2 MiB) and ends: all of it reaches the writer. A
// blocked write is not quiet output: the session, closed 250 ms after the
// exit status while the writer was still blocked, lost what sshd had not
// yet sent (2097127 of 2137152 bytes, exit 0, no error). (Found by a
// review of the change that closes it.)
func TestStreamSlowReaderGetsAll(t *testing.T) {
	srv := sshtest.Start(t, sshtest.Options{Addr: "127.0.0.93"})
	client := connect(t, newPool(t, transport.Options{}), srv.Endpoint("worker1"))
	const n = 2<<20 + 40000
	w := &slowWriter{pause: time.Second}
	code, err := client.Stream(testContext(t), "head -c "+strconv.Itoa(n)+" /dev/zero | tr '\\0' x", w, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if w.n != n || code != 0 {
		t.Errorf("Stream: the writer got %d bytes of %d (exit %d): the output's tail was lost", w.n, n, code)
	}
}
