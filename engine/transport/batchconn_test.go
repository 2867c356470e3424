package transport

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// recordConn is a net.Conn whose writes are recorded, one entry per
// system call it stands for. While gate is not nil each write first waits
// for a value on it.
type recordConn struct {
	net.Conn // nil: only Write and Close are called
	mu       sync.Mutex
	writes   [][]byte
	gate     chan struct{}
	entered  chan struct{} // a value per write begun
	fail     error
	closed   bool
}

func (r *recordConn) Write(p []byte) (int, error) {
	if r.entered != nil {
		r.entered <- struct{}{}
	}
	if r.gate != nil {
		<-r.gate
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return 0, net.ErrClosed
	}
	if r.fail != nil {
		return 0, r.fail
	}
	r.writes = append(r.writes, bytes.Clone(p))
	return len(p), nil
}

func (r *recordConn) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closed = true
	return nil
}

func (r *recordConn) all() ([]byte, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return bytes.Join(r.writes, nil), len(r.writes)
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestBatchConnGroupsWritesWhileOneIsInProgress: packets written while
// the socket is busy go out together, in order, in one write.
func TestBatchConnGroupsWritesWhileOneIsInProgress(t *testing.T) {
	rc := &recordConn{gate: make(chan struct{}), entered: make(chan struct{}, 100)}
	c := newBatchConn(rc)
	c.group()
	if _, err := c.Write([]byte("first;")); err != nil {
		t.Fatal(err)
	}
	<-rc.entered // the flusher is in its write, held at the gate
	for i := range 10 {
		if _, err := c.Write(fmt.Appendf(nil, "p%d;", i)); err != nil {
			t.Fatal(err)
		}
	}
	rc.gate <- struct{}{} // first write done
	rc.gate <- struct{}{} // the group
	waitFor(t, "the group", func() bool { _, n := rc.all(); return n == 2 })
	got, _ := rc.all()
	if want := "first;p0;p1;p2;p3;p4;p5;p6;p7;p8;p9;"; string(got) != want {
		t.Errorf("written %q, want %q", got, want)
	}
	rc.mu.Lock()
	if second := string(rc.writes[1]); second != "p0;p1;p2;p3;p4;p5;p6;p7;p8;p9;" {
		t.Errorf("second write %q: the queued packets were not grouped", second)
	}
	rc.mu.Unlock()
	if err := c.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
}

// TestBatchConnIdleWriteGoesOutAtOnce: a lone packet is written without
// waiting for another Write or a Close.
func TestBatchConnIdleWriteGoesOutAtOnce(t *testing.T) {
	rc := &recordConn{}
	c := newBatchConn(rc)
	c.group()
	defer c.Close()
	for i := range 3 {
		msg := fmt.Sprintf("packet %d", i)
		if _, err := c.Write([]byte(msg)); err != nil {
			t.Fatal(err)
		}
		waitFor(t, msg, func() bool { got, _ := rc.all(); return bytes.HasSuffix(got, []byte(msg)) })
	}
}

// TestBatchConnOrderUnderConcurrency: over a real TCP connection, packets
// written from many goroutines at once all arrive whole, each writer's in
// its order, in fewer system calls than packets.
func TestBatchConnOrderUnderConcurrency(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	received := make(chan []byte, 1)
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			received <- nil
			return
		}
		data, _ := io.ReadAll(conn)
		received <- data
	}()
	raw, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c := newBatchConn(raw)
	c.group()
	const writers, packets = 8, 500
	var wg sync.WaitGroup
	var order sync.Mutex // as x/crypto/ssh, which writes one packet at a time
	for w := range writers {
		wg.Go(func() {
			for i := range packets {
				order.Lock()
				_, err := c.Write(fmt.Appendf(nil, "<%d:%04d>", w, i))
				order.Unlock()
				if err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if err := c.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	var data []byte
	select {
	case data = <-received:
	case <-time.After(10 * time.Second):
		t.Fatal("the reader got no EOF")
	}
	next := make([]int, writers)
	for len(data) > 0 {
		var w, i int
		if _, err := fmt.Sscanf(string(data[:8]), "<%d:%04d>", &w, &i); err != nil || data[7] != '>' {
			t.Fatalf("torn packet at %q", data[:min(len(data), 20)])
		}
		if i != next[w] {
			t.Fatalf("writer %d: packet %d after %d", w, i, next[w]-1)
		}
		next[w]++
		data = data[8:]
	}
	for w, n := range next {
		if n != packets {
			t.Errorf("writer %d: %d packets arrived, want %d", w, n, packets)
		}
	}
	c.mu.Lock()
	t.Logf("%d packets in %d writes", writers*packets, c.writes)
	c.mu.Unlock()
}

// TestBatchConnCloseWritesWhatIsQueued: Close writes the queued packets
// before it closes the connection.
func TestBatchConnCloseWritesWhatIsQueued(t *testing.T) {
	rc := &recordConn{gate: make(chan struct{}, 10), entered: make(chan struct{}, 100)}
	c := newBatchConn(rc)
	c.group()
	c.Write([]byte("a"))
	<-rc.entered
	c.Write([]byte("b"))
	c.Write([]byte("c"))
	rc.gate <- struct{}{}
	rc.gate <- struct{}{}
	if err := c.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if got, _ := rc.all(); string(got) != "abc" {
		t.Errorf("written before close: %q, want %q", got, "abc")
	}
	if !rc.closed {
		t.Error("the connection was not closed")
	}
	if _, err := c.Write([]byte("d")); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Write after Close: %v, want net.ErrClosed", err)
	}
}

// TestBatchConnCloseGivesUpOnAStuckWrite: a peer that reads nothing does
// not hold Close longer than closeFlush.
func TestBatchConnCloseGivesUpOnAStuckWrite(t *testing.T) {
	rc := &recordConn{gate: make(chan struct{}), entered: make(chan struct{}, 100)}
	c := newBatchConn(rc)
	c.closeFlush = 50 * time.Millisecond
	c.group()
	c.Write([]byte("a"))
	<-rc.entered
	closed := make(chan error, 1)
	go func() { closed <- c.Close() }()
	time.Sleep(100 * time.Millisecond)
	close(rc.gate) // what a closed socket does to a blocked write
	select {
	case err := <-closed:
		if !errors.Is(err, net.ErrClosed) {
			t.Errorf("Close: %v, want the write's error (net.ErrClosed)", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close hangs on a write that does not end")
	}
}

// TestBatchConnErrorReachesNextWriteAndClose: a failed write is returned
// by the next Write and by Close.
func TestBatchConnErrorReachesNextWriteAndClose(t *testing.T) {
	boom := errors.New("connection reset by peer")
	rc := &recordConn{fail: boom}
	c := newBatchConn(rc)
	c.group()
	if _, err := c.Write([]byte("a")); err != nil {
		t.Fatalf("first Write: %v (the failure is not known yet)", err)
	}
	waitFor(t, "the failed write", func() bool { c.mu.Lock(); defer c.mu.Unlock(); return c.err != nil })
	if _, err := c.Write([]byte("b")); !errors.Is(err, boom) {
		t.Errorf("Write after the failure: %v, want %v", err, boom)
	}
	if err := c.Close(); !errors.Is(err, boom) {
		t.Errorf("Close: %v, want %v", err, boom)
	}
}

// TestBatchConnBackPressure: a Write that would overflow the buffer waits
// for the flusher.
func TestBatchConnBackPressure(t *testing.T) {
	rc := &recordConn{gate: make(chan struct{}), entered: make(chan struct{}, 100)}
	c := newBatchConn(rc)
	c.maxBatch = 8
	c.group()
	c.Write([]byte("12345678")) // taken by the flusher, which blocks
	<-rc.entered
	c.Write([]byte("abcdefgh")) // queued: the buffer is full
	third := make(chan struct{})
	go func() { c.Write([]byte("ABCDEFGH")); close(third) }()
	select {
	case <-third:
		t.Fatal("a Write past the bound did not wait")
	case <-time.After(50 * time.Millisecond):
	}
	close(rc.gate)
	select {
	case <-third:
	case <-time.After(5 * time.Second):
		t.Fatal("the waiting Write never went on")
	}
	c.Close()
	if got, _ := rc.all(); string(got) != "12345678abcdefghABCDEFGH" {
		t.Errorf("written %q", got)
	}
}

// TestBatchConnBeforeGroupWritesThrough: until the connection carries
// nested ones, each Write is a write of its own, made before it returns.
func TestBatchConnBeforeGroupWritesThrough(t *testing.T) {
	rc := &recordConn{}
	c := newBatchConn(rc)
	c.Write([]byte("a"))
	c.Write([]byte("b"))
	if got, n := rc.all(); string(got) != "ab" || n != 2 {
		t.Errorf("written %q in %d writes, want %q in 2", got, n, "ab")
	}
	c.group()
	c.Write([]byte("c"))
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if got, _ := rc.all(); string(got) != "abc" {
		t.Errorf("written %q, want %q", got, "abc")
	}
}
