package registry

import (
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// TestRegistryFIFODoesNotHang: a registry path that is a FIFO is refused
// at once (its type is looked at before it is opened). Opening it blocked
// for ever, no signal ended omni, and cron waited with it. (Found by an
// adversarial review.)
func TestRegistryFIFODoesNotHang(t *testing.T) {
	p := filepath.Join(t.TempDir(), "r.db")
	if err := syscall.Mkfifo(p, 0o600); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { _, err := OpenBolt(p); done <- err }()
	select {
	case err := <-done:
		t.Logf("OpenBolt: %v", err)
		if err == nil {
			t.Fatal("a FIFO accepted as a registry")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("OpenBolt of a FIFO still blocked after 10 s (the documented bound is 5 s); the goroutine stays blocked in open(2)")
	}
}
