package transport

import (
	"net"
	"sync"
	"time"
)

// batchConn is the TCP connection under a bastion's SSH connection. Every
// packet x/crypto/ssh sends is one Write (it flushes its buffer per
// packet), so each packet of every connection nested in the bastion's cost
// one write system call on its socket: about 20 per host behind it.
//
// Once the connection carries nested ones (group), writes are committed in
// groups: Write appends to a buffer and returns, and one flusher goroutine
// writes whatever accumulated in one system call. An idle connection adds
// no delay (the flusher starts writing at once); packets group only while a
// write is in progress. The buffer is bounded (maxBatch): a Write that
// would overflow it waits for the flusher. Order is kept. A failed write is
// reported by the next Write and by Close, and drops what was queued after
// it. Close writes what is queued first (for at most closeFlush, 1 s, so
// that a peer which reads nothing holds no Close long), then closes the
// connection. Before group is called every Write goes straight
// to the socket, as without the wrapper.
type batchConn struct {
	net.Conn

	mu       sync.Mutex
	cond     *sync.Cond // signalled on a change of pending, writing, err, closed
	batching bool
	pending  []byte // queued, not yet handed to the socket
	spare    []byte // the flusher's previous buffer, reused
	writing  bool   // the flusher is in a write
	err      error  // the first failed write: every later Write returns it
	closed   bool
	done     chan struct{} // closed when the flusher has ended

	wmu sync.Mutex // held around each write to the socket, to keep order

	maxBatch   int
	closeFlush time.Duration
	writes     int // system calls made by the flusher (tests)
}

const (
	defaultMaxBatch   = 256 << 10
	defaultCloseFlush = time.Second
)

func newBatchConn(conn net.Conn) *batchConn {
	c := &batchConn{Conn: conn, maxBatch: defaultMaxBatch, closeFlush: defaultCloseFlush}
	c.cond = sync.NewCond(&c.mu)
	return c
}

// group switches the connection to grouped writes (once; later calls do
// nothing).
func (c *batchConn) group() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.batching || c.closed {
		return
	}
	c.batching = true
	c.done = make(chan struct{})
	go c.flush()
}

// Write queues p (or, before group, writes it).
func (c *batchConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	if !c.batching {
		// Taken before mu is released: a write queued after this one is
		// written after it.
		c.wmu.Lock()
		c.mu.Unlock()
		defer c.wmu.Unlock()
		return c.Conn.Write(p)
	}
	defer c.mu.Unlock()
	for c.err == nil && !c.closed && len(c.pending) > 0 && len(c.pending)+len(p) > c.maxBatch {
		c.cond.Wait() // back-pressure: the flusher is behind
	}
	switch {
	case c.err != nil:
		return 0, c.err
	case c.closed:
		return 0, net.ErrClosed
	}
	c.pending = append(c.pending, p...)
	c.cond.Broadcast()
	return len(p), nil
}

// flush writes what is queued, in groups, until the connection is closed
// and nothing is queued, or a write fails.
func (c *batchConn) flush() {
	defer close(c.done)
	c.mu.Lock()
	defer c.mu.Unlock()
	for {
		for len(c.pending) == 0 && !c.closed && c.err == nil {
			c.cond.Wait()
		}
		if c.err != nil || len(c.pending) == 0 {
			return // failed, or closed with nothing left
		}
		out := c.pending
		c.pending, c.spare = c.spare[:0], nil
		c.writing = true
		c.writes++
		c.mu.Unlock()
		c.wmu.Lock()
		_, err := c.Conn.Write(out)
		c.wmu.Unlock()
		c.mu.Lock()
		c.writing = false
		if err != nil {
			c.err = err
			c.pending = nil
		}
		if cap(out) <= c.maxBatch {
			c.spare = out[:0]
		}
		c.cond.Broadcast()
	}
}

// Close writes what is queued (for at most closeFlush, then gives up on
// it) and closes the connection. It returns the error of a failed write
// not yet returned by Write, else the connection's.
func (c *batchConn) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return c.Conn.Close()
	}
	c.closed = true
	done := c.done
	c.cond.Broadcast()
	c.mu.Unlock()
	if done != nil {
		timer := time.NewTimer(c.closeFlush)
		select {
		case <-done:
		case <-timer.C: // the peer reads nothing: closing ends the write
		}
		timer.Stop()
	}
	closeErr := c.Conn.Close()
	if done != nil {
		<-done
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return c.err
	}
	return closeErr
}
