package tcpdelay

import (
	"errors"
	"io"
	"os"
	"syscall"
	"testing"
	"time"
)

// seqpacket returns the two ends of a SOCK_SEQPACKET pair: like a TUN
// device, each read returns one whole message.
func seqpacket(t *testing.T) (*os.File, *os.File) {
	t.Helper()
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_SEQPACKET, 0)
	if err != nil {
		t.Fatal(err)
	}
	a, b := os.NewFile(uintptr(fds[0]), "a"), os.NewFile(uintptr(fds[1]), "b")
	t.Cleanup(func() { a.Close(); b.Close() })
	return a, b
}

// TestForward: every packet arrives whole, in order, no sooner than the
// delay after it was sent; the end of the source ends Forward.
func TestForward(t *testing.T) {
	in, src := seqpacket(t)
	dst, out := seqpacket(t)
	const d = 30 * time.Millisecond
	done := make(chan error, 1)
	go func() { done <- Forward(dst, src, d) }()
	sent := time.Now()
	msgs := []string{"one", "two", "three"}
	for _, m := range msgs {
		if _, err := in.Write([]byte(m)); err != nil {
			t.Fatal(err)
		}
	}
	buf := make([]byte, 100)
	for _, want := range msgs {
		n, err := out.Read(buf)
		if err != nil {
			t.Fatal(err)
		}
		if got := string(buf[:n]); got != want {
			t.Fatalf("got packet %q, want %q (whole, in order)", got, want)
		}
	}
	if took := time.Since(sent); took < d {
		t.Errorf("the packets arrived %v after they were sent, want at least %v", took, d)
	}
	in.Close()
	select {
	case err := <-done:
		if !errors.Is(err, io.EOF) {
			t.Errorf("Forward returned %v at the source's end, want EOF", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Forward did not return at the source's end")
	}
}
