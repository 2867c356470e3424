package transport_test

import (
	"bytes"
	"crypto/rand"
	"io"
	"sync"
	"testing"

	"github.com/omni-fleet/omni/engine/transport"
	"github.com/omni-fleet/omni/internal/testkit/sshtest"
)

// countingReader counts the bytes read through it.
type countingReader struct {
	mu sync.Mutex
	r  io.Reader
	n  int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.mu.Lock()
	c.n += n
	c.mu.Unlock()
	return n, err
}

func (c *countingReader) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

// TestConnectionsDrawOnBufferedRandom: x/crypto's per-packet randomness
// (padding, the key exchange's cookie) comes from the transport's
// buffered reader of crypto/rand, not from a getrandom per packet.
// Not parallel: it swaps the package's reader.
func TestConnectionsDrawOnBufferedRandom(t *testing.T) {
	counted := &countingReader{r: rand.Reader}
	restore := transport.SwapSSHRandom(counted)
	defer restore()
	srv := sshtest.Start(t, sshtest.Options{Addr: "127.0.0.11"})
	client := connect(t, newPool(t, transport.Options{}), srv.Endpoint("worker1"))
	afterHandshake := counted.count()
	if afterHandshake == 0 {
		t.Fatal("the handshake read nothing from the transport's random reader")
	}
	if got := run(t, client, "echo hello"); !bytes.Equal(got.Stdout, []byte("hello\n")) {
		t.Fatalf("stdout %q", got.Stdout)
	}
	if counted.count() <= afterHandshake {
		t.Fatal("the command's packets took no padding from the transport's random reader")
	}
}

// TestBufferedRandomHandsOutFreshBytes: every read is filled in full, and
// no two reads return the same bytes.
func TestBufferedRandomHandsOutFreshBytes(t *testing.T) {
	r := transport.SSHRandom()
	seen := map[string]bool{}
	for _, size := range []int{4, 16, 19, 32, 4096, 5000, 16} {
		b := make([]byte, size)
		if n, err := r.Read(b); n != size || err != nil {
			t.Fatalf("read of %d: %d, %v", size, n, err)
		}
		if seen[string(b)] || bytes.Equal(b, make([]byte, size)) {
			t.Fatalf("read of %d returned bytes already seen, or zeros", size)
		}
		seen[string(b)] = true
	}
}
