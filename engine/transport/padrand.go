package transport

import (
	"bufio"
	"crypto/rand"
	"io"
	"sync"
)

// sshRandom is the ssh.Config.Rand of every connection: the kernel's
// random bytes (crypto/rand), read 4 KiB at a time. x/crypto reads
// Config.Rand for every packet it sends (the padding, 4 to 19 bytes), for
// the key exchange's cookie, and for curve25519's ephemeral key; straight
// from crypto/rand that is one getrandom per packet, 5% of omni's CPU in a
// status of 1,000 hosts (docs/benchmarks.md, "Status of 1,000 hosts"). The
// bytes are the same kernel bytes, only fetched in bulk; each is handed
// out once. ECDSA and Ed25519 keys and signatures ignore Config.Rand and
// use crypto/rand themselves (Go 1.26).
var sshRandom io.Reader = &bufferedRandom{r: bufio.NewReaderSize(rand.Reader, 4096)}

// bufferedRandom is a bufio.Reader safe for the connections' goroutines.
type bufferedRandom struct {
	mu sync.Mutex
	r  *bufio.Reader
}

func (b *bufferedRandom) Read(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return io.ReadFull(b.r, p)
}
