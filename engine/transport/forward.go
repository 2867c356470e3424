package transport

import (
	"errors"
	"io"
	"sync"

	"golang.org/x/crypto/ssh"
)

// forwardChannel serves a channel a master's client opens (a session, a
// direct-tcpip or direct-streamlocal dial) by opening one of the same type
// and extra data on the host's connection, then copying both ways: data
// and extended data (stderr), EOFs, channel requests with their replies
// (exec, shell, pty-req, env, signal, window-change one way; exit-status,
// exit-signal the other), and the close. A refusal by the host is passed
// on with its reason.
func forwardChannel(newCh ssh.NewChannel, upstream *ssh.Client) {
	up, upReqs, err := upstream.OpenChannel(newCh.ChannelType(), newCh.ExtraData())
	if err != nil {
		var open *ssh.OpenChannelError
		if errors.As(err, &open) {
			_ = newCh.Reject(open.Reason, open.Message)
		} else {
			_ = newCh.Reject(ssh.ConnectionFailed, err.Error())
		}
		return
	}
	down, downReqs, err := newCh.Accept()
	if err != nil {
		up.Close()
		return
	}
	// Host to client: once the host's side is done (EOF, then its close,
	// which ends its requests), the client's channel is closed. Each
	// message waits for the replies in flight (gate).
	gate := newReplyGate()
	var toClient sync.WaitGroup
	toClient.Add(3)
	go func() {
		defer toClient.Done()
		_, _ = io.Copy(gatedWriter{down, gate}, up)
		gate.wait()
		_ = down.CloseWrite()
	}()
	go func() {
		defer toClient.Done()
		_, _ = io.Copy(gatedWriter{down.Stderr(), gate}, up.Stderr())
	}()
	go func() {
		defer toClient.Done()
		forwardRequests(upReqs, down, gate, false)
	}()
	// Client to host: the client's close closes the host's channel.
	go func() {
		_, _ = io.Copy(up, down)
		_ = up.CloseWrite()
	}()
	go func() {
		_, _ = io.Copy(up.Stderr(), down.Stderr())
	}()
	go func() {
		forwardRequests(downReqs, up, gate, true)
		_ = up.Close()
	}()
	toClient.Wait()
	gate.wait()
	_ = down.Close()
}

// forwardRequests sends each request on to, in order, and passes its reply
// back when one is wanted (a failure when to could not carry it). From the
// client (toHost), a request that wants a reply holds the host's later
// messages back at gate until its reply is passed on; towards the client,
// each request first waits at gate.
func forwardRequests(reqs <-chan *ssh.Request, to ssh.Channel, gate *replyGate, toHost bool) {
	for req := range reqs {
		held := toHost && req.WantReply
		if held {
			gate.begin()
		} else if !toHost {
			gate.wait()
		}
		ok, err := to.SendRequest(req.Type, req.WantReply, req.Payload)
		if req.WantReply {
			_ = req.Reply(ok && err == nil, nil)
		}
		if held {
			gate.end()
		}
	}
}

// replyGate keeps the host's messages in the host's order when they reach
// the client. The host answers a request (an exec) before what follows it:
// a command that ends at once sends its reply, output, exit status and
// close in one burst. The reply comes back to the goroutine that sent the
// request, the rest to the goroutines that copy the host's side, so the
// close could reach the client before the reply, and the client's exec
// then failed with EOF. While a client's request waits for its reply,
// whatever the host sent after it waits too: it is read only once the
// request went out (begin comes first), and written only once no reply is
// pending. A write already blocked (the client reads nothing) holds no one
// up: it carries what the host sent before the request.
type replyGate struct {
	mu      sync.Mutex
	cleared *sync.Cond
	pending int
}

func newReplyGate() *replyGate {
	g := &replyGate{}
	g.cleared = sync.NewCond(&g.mu)
	return g
}

func (g *replyGate) begin() {
	g.mu.Lock()
	g.pending++
	g.mu.Unlock()
}

func (g *replyGate) end() {
	g.mu.Lock()
	g.pending--
	g.cleared.Broadcast()
	g.mu.Unlock()
}

// wait returns once no reply is pending.
func (g *replyGate) wait() {
	g.mu.Lock()
	for g.pending > 0 {
		g.cleared.Wait()
	}
	g.mu.Unlock()
}

// gatedWriter writes to w once no reply is pending at gate.
type gatedWriter struct {
	w    io.Writer
	gate *replyGate
}

func (g gatedWriter) Write(p []byte) (int, error) {
	g.gate.wait()
	return g.w.Write(p)
}
