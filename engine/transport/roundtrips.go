package transport

import (
	"errors"
	"net"
	"sync"
	"sync/atomic"

	"golang.org/x/crypto/ssh"
)

// RoundTrips counts the round trips a Client has waited for on its
// connection since authentication: each time it sent the host something
// and could not go on before the answer came back. The counts depend only
// on what was asked, never on timing or load, so tests can pin them.
//
// What counts, one each:
//   - Sessions: a session channel opened (the open waits for the server's
//     confirmation). A connection's first session on an OpenSSH server
//     is not one: its open went out with the login, and its confirmation
//     came back with the login's success (dial.go, EarlySession);
//   - Execs: a session's command started (the "exec" request waits for its
//     reply; the command's output and exit status then come without
//     another message from us, so its end is not one more);
//   - ShellCommands: a command sent to the long-lived shell (shell.go) and
//     waited for. The shell's start request carries its first command and
//     is not waited for before anything: its reply comes back with that
//     command's output, so the start is not one more (unless the first
//     command is too long to ride along: then the start is an Exec);
//   - Dials: a direct-tcpip channel opened (DialContext: a port or HTTP
//     check, or a host reached through this one as its bastion);
//   - Exchanges: on a dialled channel, the first answer read after we
//     wrote (an HTTP request and its response: one). A port check that
//     only connects has none;
//   - ShellEnds: the shell's end, waited for when the connection is
//     released or closed (endShell). A shell ended ahead of that
//     (EndShellAhead: its end sent along with other requests, whose
//     answers come back with its exit) is not one.
//
// What does not count: keepalives (sent on a timer, off the path of any
// work, so counting them would make the figure depend on time); requests
// that wait for no reply (signals, channel closes, EOF); and the
// connection itself, the TCP connect or the bastion's channel open, the
// SSH key exchange and authentication. x/crypto/ssh overlaps its key
// exchange with reading the server's messages, so how many of those waits
// are distinct depends on timing; Connects says how many connections
// were made instead (always 1 for a Client: a lost connection is dialled
// again as a new Client).
type RoundTrips struct {
	Connects      int `json:"connects"`
	Sessions      int `json:"sessions"`
	Execs         int `json:"execs"`
	ShellCommands int `json:"shell_commands"`
	Dials         int `json:"dials"`
	Exchanges     int `json:"exchanges"`
	ShellEnds     int `json:"shell_ends"`
	// Persistent says the connection went through a master's socket
	// (Options.ControlPersist): it was made once, by the master, for
	// this run and the others before and after it.
	Persistent bool `json:"persistent,omitempty"`
}

// AfterAuth is the number of round trips waited for after authentication:
// every count but Connects.
func (r RoundTrips) AfterAuth() int {
	return r.Sessions + r.Execs + r.ShellCommands + r.Dials + r.Exchanges + r.ShellEnds
}

// roundTripCounter is a Client's RoundTrips, counted as they happen by
// every goroutine that uses the connection.
type roundTripCounter struct {
	sessions, execs, shellCommands, dials, exchanges, shellEnds atomic.Int64
}

// RoundTrips returns what c has waited for so far. A connection shared by
// several callers (the Pool's) counts them all.
func (c *Client) RoundTrips() RoundTrips {
	n := &c.trips
	return RoundTrips{
		Connects: 1, Sessions: int(n.sessions.Load()), Execs: int(n.execs.Load()),
		ShellCommands: int(n.shellCommands.Load()), Dials: int(n.dials.Load()),
		Exchanges: int(n.exchanges.Load()), ShellEnds: int(n.shellEnds.Load()),
		Persistent: c.persistent,
	}
}

// answered says whether err still means the server answered: success, or
// a refusal it sent (not a lost connection, nor a caller giving up).
func answered(err error) bool {
	var open *ssh.OpenChannelError
	return err == nil || errors.As(err, &open)
}

// countedConn is a dialled channel that counts its exchanges: a Read that
// returns data after a Write is the answer to what was written.
type countedConn struct {
	net.Conn
	exchanges *atomic.Int64
	mu        sync.Mutex
	wrote     bool // written since the last answer
}

// Write marks the write before making it: the answer can then never be
// read before the mark is set, however the goroutines are scheduled.
func (c *countedConn) Write(p []byte) (int, error) {
	if len(p) > 0 {
		c.mu.Lock()
		c.wrote = true
		c.mu.Unlock()
	}
	return c.Conn.Write(p)
}

func (c *countedConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.mu.Lock()
		if c.wrote {
			c.wrote = false
			c.exchanges.Add(1)
		}
		c.mu.Unlock()
	}
	return n, err
}
