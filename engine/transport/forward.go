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
	// which ends its requests), the client's channel is closed.
	var toClient sync.WaitGroup
	toClient.Add(3)
	go func() {
		defer toClient.Done()
		_, _ = io.Copy(down, up)
		_ = down.CloseWrite()
	}()
	go func() {
		defer toClient.Done()
		_, _ = io.Copy(down.Stderr(), up.Stderr())
	}()
	go func() {
		defer toClient.Done()
		forwardRequests(upReqs, down)
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
		forwardRequests(downReqs, up)
		_ = up.Close()
	}()
	toClient.Wait()
	_ = down.Close()
}

// forwardRequests sends each request on to, in order, and passes its reply
// back when one is wanted (a failure when to could not carry it).
func forwardRequests(reqs <-chan *ssh.Request, to ssh.Channel) {
	for req := range reqs {
		ok, err := to.SendRequest(req.Type, req.WantReply, req.Payload)
		if req.WantReply {
			_ = req.Reply(ok && err == nil, nil)
		}
	}
}
