package sshtest

import (
	"net"
	"strconv"
	"sync"
	"testing"
)

// Proxy is a TCP proxy in front of a server that can turn into a black
// hole: a link whose packets are dropped. After Drop, it forwards nothing
// more in either direction and stops reading, so that the senders' buffers
// fill up as over a dead link, and it passes on no close: neither end
// hears anything, neither a reset nor an end of stream. The sockets stay
// open until the test ends.
type Proxy struct {
	Addr string // the proxy's address, connect here
	Port int

	target  string
	ln      net.Listener
	dropped chan struct{} // closed by Drop
	done    chan struct{} // closed when the test ends
	once    sync.Once
	mu      sync.Mutex
	conns   []net.Conn
	accepts int
}

// StartProxy listens on addr (port chosen by the system) and forwards
// every connection to target (host:port) until Drop.
func StartProxy(t testing.TB, addr, target string) *Proxy {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(addr, "0"))
	if err != nil {
		t.Fatalf("sshtest: proxy: %v", err)
	}
	p := &Proxy{Addr: addr, Port: ln.Addr().(*net.TCPAddr).Port, target: target, ln: ln,
		dropped: make(chan struct{}), done: make(chan struct{})}
	go p.accept()
	t.Cleanup(p.close)
	return p
}

// HostPort is the proxy's address as host:port.
func (p *Proxy) HostPort() string { return net.JoinHostPort(p.Addr, strconv.Itoa(p.Port)) }

// Accepted reports how many connections the proxy has accepted and
// forwarded: how many times the server was connected to through it.
func (p *Proxy) Accepted() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.accepts
}

// Drop turns the proxy into a black hole, for the connections it carries
// and those it accepts later.
func (p *Proxy) Drop() { p.once.Do(func() { close(p.dropped) }) }

func (p *Proxy) accept() {
	for {
		client, err := p.ln.Accept()
		if err != nil {
			return
		}
		server, err := net.Dial("tcp", p.target)
		if err != nil {
			client.Close()
			continue
		}
		if !p.track(client, server) {
			return
		}
		go p.forward(server, client)
		go p.forward(client, server)
	}
}

// track records the connections for closing at the end; false once closed.
func (p *Proxy) track(conns ...net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.done:
		for _, c := range conns {
			c.Close()
		}
		return false
	default:
	}
	p.conns = append(p.conns, conns...)
	p.accepts++
	return true
}

// forward copies from src to dst until the link drops, and then holds
// everything: no more reads, no writes, no close.
func (p *Proxy) forward(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		select {
		case <-p.dropped:
			<-p.done
			return
		default:
		}
		n, err := src.Read(buf)
		select {
		case <-p.dropped: // what was read after the drop is lost
			<-p.done
			return
		default:
		}
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				src.Close()
				return
			}
		}
		if err != nil {
			dst.Close()
			return
		}
	}
}

func (p *Proxy) close() {
	p.mu.Lock()
	close(p.done)
	conns := p.conns
	p.conns = nil
	p.mu.Unlock()
	p.ln.Close()
	for _, c := range conns {
		c.Close()
	}
}
