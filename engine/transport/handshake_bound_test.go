package transport

import (
	"context"
	"errors"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// deadChannel is a byte stream through a bastion whose link has died: it
// takes writes, never delivers a byte, supports no deadlines, and closing
// it does not end a read (over a real bastion, the close is a message the
// dead bastion never answers).
type deadChannel struct{ never chan struct{} }

func (d deadChannel) Read([]byte) (int, error)         { <-d.never; return 0, net.ErrClosed }
func (d deadChannel) Write(b []byte) (int, error)      { return len(b), nil }
func (d deadChannel) Close() error                     { return nil }
func (d deadChannel) LocalAddr() net.Addr              { return &net.TCPAddr{} }
func (d deadChannel) RemoteAddr() net.Addr             { return &net.TCPAddr{} }
func (d deadChannel) SetDeadline(time.Time) error      { return errors.New("not supported") }
func (d deadChannel) SetReadDeadline(time.Time) error  { return errors.New("not supported") }
func (d deadChannel) SetWriteDeadline(time.Time) error { return errors.New("not supported") }

// TestHandshakeOverADeadChannelIsBounded: the handshake ends at
// ConnectTimeout even over a stream that neither answers nor can be
// interrupted, such as a channel through a bastion that died after opening
// it.
func TestHandshakeOverADeadChannelIsBounded(t *testing.T) {
	ep, err := Endpoint{Name: "worker1", Address: "127.0.0.1", Port: 22, User: "nobody",
		KnownHosts: filepath.Join(t.TempDir(), "known_hosts"), ConnectTimeout: 300 * time.Millisecond}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	never := make(chan struct{})
	defer close(never)
	pool := NewPool(Options{})
	defer pool.Close()

	done := make(chan error, 1)
	began := time.Now()
	go func() {
		_, _, err := pool.handshake(context.Background(), ep, deadChannel{never})
		done <- err
	}()
	select {
	case err := <-done:
		var unreachable *UnreachableError
		if !errors.As(err, &unreachable) || !strings.HasSuffix(err.Error(), "unreachable: timed out after 300ms during SSH handshake") {
			t.Errorf("%v, want *UnreachableError: timed out after 300ms during SSH handshake", err)
		}
		if took := time.Since(began); took > 2*time.Second {
			t.Errorf("took %s", took)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the handshake still runs 10s after its 300ms deadline")
	}
}
