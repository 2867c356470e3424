package sshtest

import (
	"net"
	"sync"
	"testing"
)

// SilentListener listens on a free port of addr and accepts connections
// without ever sending a byte, like a host that hangs during the SSH
// handshake. It closes everything when the test ends.
func SilentListener(t testing.TB, addr string) *net.TCPAddr {
	t.Helper()
	l, err := net.Listen("tcp", net.JoinHostPort(addr, "0"))
	if err != nil {
		t.Fatalf("sshtest: listening on %s: %v", addr, err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, conn)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		<-done
		mu.Lock()
		defer mu.Unlock()
		for _, conn := range conns {
			conn.Close()
		}
	})
	return l.Addr().(*net.TCPAddr)
}
