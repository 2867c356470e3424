package transport

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/melbahja/goph"
	"golang.org/x/crypto/ssh"

	"github.com/omni-fleet/omni/internal/cutnote"
	"github.com/omni-fleet/omni/internal/shell"
	"github.com/omni-fleet/omni/internal/warm"
)

// closeGrace bounds how long a cancelled command, or Pool.Close, waits for
// the server to acknowledge a closed channel or connection.
const closeGrace = 5 * time.Second

// Client is one SSH connection to one host, shared by every caller through
// the Pool that made it; it carries many sessions at once. The Pool closes it.
type Client struct {
	name    string
	address string
	ssh     *ssh.Client
	goph    *goph.Client
	lost    chan struct{} // closed once the connection has ended or been declared dead (markLost)
	entry   *poolEntry    // the Pool's record of it, for Release

	lostOnce   sync.Once
	lostReason string // why it was declared dead, "" if it just ended; set before lost is closed

	shellMu sync.Mutex     // held while a command runs in shell
	shell   *remoteShell   // the shell Run uses (see shell.go), nil until the first Run
	noShell bool           // the server refused the shell's session
	ending  []*remoteShell // shells EndShellAhead ended, for endShell to wait for

	trips roundTripCounter // the round trips waited for (roundtrips.go)

	wire *batchConn // the TCP connection (nil through a bastion): grouped writes once it is one

	hostKey    *seenHostKey // the host key verified when connecting (nil through a master)
	persistent bool         // through a master's socket (persistent.go), not to the host itself

	warm *warm.Pool // its pool's goroutines, for its short-lived ones (nil: new ones)
}

// newClient wraps a connection made to ep, through bastion when not nil,
// and starts watching it: its end, keepalives, and the bastion's end.
func newClient(ep Endpoint, sshClient *ssh.Client, config *ssh.ClientConfig, bastion *Client) *Client {
	c := &Client{
		name:    ep.Name,
		address: ep.hostPort(),
		ssh:     sshClient,
		goph: &goph.Client{Client: sshClient, Config: &goph.Config{
			Auth:     goph.Auth(config.Auth),
			User:     ep.User,
			Addr:     ep.Address,
			Port:     uint(ep.Port),
			Timeout:  ep.ConnectTimeout,
			Callback: config.HostKeyCallback,
		}},
		lost: make(chan struct{}),
	}
	go func() {
		_ = sshClient.Wait()
		c.markLost(viaReason(bastion)) // the bastion's end may end this one first
	}()
	if bastion != nil {
		go c.watchBastion(bastion)
	}
	if ep.ServerAliveInterval > 0 {
		go c.keepAlive(ep.ServerAliveInterval, ep.ServerAliveCountMax)
	}
	return c
}

// Goph returns the connection wrapped for goph's helpers (SFTP upload and
// download). Do not Close it: the Pool owns the connection.
func (c *Client) Goph() *goph.Client { return c.goph }

// Result is the outcome of a command that ran to completion.
type Result struct {
	Stdout, Stderr []byte
	// ExitCode is the command's exit status; 128+n when killed by signal n.
	ExitCode int
}

// Run runs cmd with a POSIX shell on the host and collects its output. A
// non-zero exit is reported in Result.ExitCode, not as an error: the error
// is for transport failures (an *UnreachableError when the connection is
// lost), and for ctx ending, which kills the command and everything it
// started in its process group, and returns an error wrapping ctx.Err().
// Quote every value interpolated into cmd.
//
// Commands run one at a time in one long-lived remote shell per connection,
// each in an `sh -c` of its own (see shell.go). A Run that finds that
// shell busy runs cmd in a session of its own, with the login shell (also
// POSIX), preceded by a line that reports the shell's PID on stderr so
// that it can be killed; Run takes that line out of the output.
func (c *Client) Run(ctx context.Context, cmd string) (Result, error) {
	return c.run(ctx, cmd, true, false)
}

// RunEnds is Run for a command whose output its caller reads only at its
// ends (a report at the end of each part, the last words of a user's
// command before it): output past MaxOutput does not fail the command;
// its first and last MiB are kept, a cutnote.Note between them.
func (c *Client) RunEnds(ctx context.Context, cmd string) (Result, error) {
	return c.run(ctx, cmd, true, true)
}

// run runs cmd in the connection's shell (starting one when startShell is
// true and there is none), else in a session of its own. keepEnds: output
// past MaxOutput is kept at its ends, not an error.
func (c *Client) run(ctx context.Context, cmd string, startShell, keepEnds bool) (Result, error) {
	if err := ctx.Err(); err != nil {
		return Result{ExitCode: -1}, fmt.Errorf("%s: %w", c.name, err)
	}
	if c.isLost() {
		return Result{ExitCode: -1}, c.lostError("connection lost", io.ErrUnexpectedEOF)
	}
	if res, ok, err := c.runInShell(ctx, cmd, startShell, keepEnds); ok {
		return res, err
	}
	var stdout, stderr boundedBuffer
	code, err := c.exec(ctx, cmd, nil, &stdout, &stderr)
	if err != nil {
		return Result{ExitCode: -1}, err
	}
	if (stdout.overflow || stderr.overflow) && !keepEnds {
		return Result{ExitCode: -1}, outputOverflow(c.name)
	}
	return Result{Stdout: stdout.Bytes(), Stderr: stderr.Bytes(), ExitCode: code}, nil
}

// MaxOutput bounds what omni keeps of one command's stdout, and of its
// stderr, run with Run or RunOnce: far more than any of omni's scripts
// prints (a configuration read with contents takes at most 16 files of
// 1 MiB a command: under 24 MiB in base64), and a bound on a host that
// floods its output (omni's memory grew
// by gigabytes, and the run overran its bounds). Past it the output is
// read and only its ends are kept (keepEnd bytes each); the command fails,
// unless it ran with RunEnds (or RunOnceEnds), whose caller reads only the
// ends. Stream (logs) keeps nothing: its writer takes the output as it
// comes.
const MaxOutput = 32 << 20

// keepEnd is how much of each end of a stream's output is kept once it
// has passed MaxOutput.
const keepEnd = 1 << 20

func outputOverflow(host string) error {
	return fmt.Errorf("%s: the command's output passed %d MiB, and was not kept (a host flooding its output?)", host, MaxOutput>>20)
}

// boundedBuffer keeps a stream's output up to MaxOutput bytes; past that,
// its first and its last keepEnd bytes, and the count of those left out
// between them.
type boundedBuffer struct {
	data     []byte // the output; past MaxOutput, its last bytes (at most 2×keepEnd)
	head     []byte // past MaxOutput: its first keepEnd bytes
	cut      int64  // past MaxOutput: the bytes left out between head and data
	overflow bool
}

func (b *boundedBuffer) Write(p []byte) (int, error) {
	n := len(p)
	if !b.overflow && len(b.data)+len(p) <= MaxOutput {
		b.data = append(b.data, p...)
		return n, nil
	}
	if !b.overflow {
		b.overflow = true
		before := b.data
		if len(before) >= keepEnd {
			b.head = bytes.Clone(before[:keepEnd])
			before = before[keepEnd:]
		} else {
			b.head = append(bytes.Clone(before), p[:keepEnd-len(before)]...)
			p, before = p[keepEnd-len(before):], nil
		}
		b.data = nil
		b.keepLast(before, p)
		return n, nil
	}
	b.keepLast(b.data, p)
	return n, nil
}

// keepLast sets data to x followed by y, or past 2×keepEnd bytes, to the
// last keepEnd of them, counting those left out.
func (b *boundedBuffer) keepLast(x, y []byte) {
	if len(x)+len(y) <= 2*keepEnd {
		b.data = append(x, y...)
		return
	}
	drop := len(x) + len(y) - keepEnd
	b.cut += int64(drop)
	tail := make([]byte, 0, 2*keepEnd)
	if drop < len(x) {
		tail = append(tail, x[drop:]...)
		tail = append(tail, y...)
	} else {
		tail = append(tail, y[drop-len(x):]...)
	}
	b.data = tail
}

// Bytes is the output kept: all of it, or its ends around a cutnote.Note.
func (b *boundedBuffer) Bytes() []byte {
	if !b.overflow {
		return b.data
	}
	out := append(b.head[:len(b.head):len(b.head)], cutnote.Note(b.cut)...)
	return append(out, b.data...)
}

// RunOnce is Run for a caller that will run only this one command on the
// connection, such as a status of one service: it does not start the
// long-lived shell, which for a single command would cost the host one
// process more than a session of its own. A shell that is already there
// and idle is used.
func (c *Client) RunOnce(ctx context.Context, cmd string) (Result, error) {
	return c.run(ctx, cmd, false, false)
}

// RunOnceEnds is RunOnce keeping the ends of a long output, as RunEnds.
func (c *Client) RunOnceEnds(ctx context.Context, cmd string) (Result, error) {
	return c.run(ctx, cmd, false, true)
}

// Stream is Run writing the command's output to stdout and stderr as it
// arrives (nil discards). The writers are never called concurrently, nor
// after Stream returns. Ending ctx ends the command; Stream then returns
// an error wrapping ctx.Err(). A write that fails (a closed pipe, a full
// disk) ends the command too, at once: Stream then returns an
// *OutputError.
func (c *Client) Stream(ctx context.Context, cmd string, stdout, stderr io.Writer) (int, error) {
	out := &guardedWriters{}
	code, err := c.exec(ctx, cmd, nil, out.writer(stdout), out.writer(stderr))
	out.stop()
	return code, err
}

func (c *Client) exec(ctx context.Context, cmd string, stdin io.Reader, stdout, stderr io.Writer) (int, error) {
	if err := ctx.Err(); err != nil {
		return -1, fmt.Errorf("%s: %w", c.name, err)
	}
	if c.isLost() {
		return -1, c.lostError("connection lost", io.ErrUnexpectedEOF)
	}
	session, err := c.newSession(ctx)
	if err != nil {
		return -1, err
	}
	failed := newFailedWrites()
	stderrPID := newPIDCapture(failed.writer(stderr))
	var heard outputClock
	session.Stdin, session.Stdout, session.Stderr = stdin, heard.writer(failed.writer(stdout)), heard.writer(stderrPID)
	asked := time.Now()
	err = session.Start(withPIDReport(cmd))
	c.countExec(err)
	if err != nil {
		session.Close()
		return -1, c.transportError("start command", err)
	}
	// The start's answer took a round trip (and the host's fork): the
	// output that a slow reader held back takes one more to resume.
	quietFor := max(exitQuiet, 2*time.Since(asked))
	done := make(chan error, 1)
	go func() { done <- session.Wait() }()

	// Once the exit status is in, the output still open is read until it
	// has been quiet for quietFor: a daemon the command left in the
	// background with its stdout or stderr would hold the session open
	// for as long as it runs (see Session.Exited). Then the session is
	// closed, which ends Wait. A write in progress (a slow reader: a
	// pager) is not quiet: while it blocks, the channel's window stays
	// shut, and the rest of the output waits in the host's pipe. A daemon
	// that keeps writing is never quiet: the output is read for drainFor
	// at most after the exit status, not counting the time a write was
	// blocked (the command's own output still on its way is at most what
	// the channel's window and the host's pipe held when it ended).
	drainFor := max(exitDrain, 8*quietFor)
	exited := session.Exited()
	var quiet <-chan time.Time
	var exitAt time.Time
	var busyAt time.Duration
	for {
		select {
		case <-exited:
			exited = nil
			exitAt, busyAt = time.Now(), heard.busy()
			quiet = time.After(quietFor)
		case <-quiet:
			since := heard.quietFor()
			idle := time.Since(exitAt) - (heard.busy() - busyAt)
			if since < quietFor && idle < drainFor {
				quiet = time.After(min(quietFor-since, drainFor-idle))
			} else {
				quiet = nil
				session.Close()
			}
		case err := <-done:
			session.Close()
			stderrPID.flush()
			if err := failed.failure(); err != nil {
				return -1, &OutputError{Host: c.name, Err: err}
			}
			return c.exitCode(err)
		case <-failed.failed:
			// The output's copier stopped at the failed write: the command
			// would block on a full channel, until its deadline or forever.
			c.kill(session, stderrPID, done)
			return -1, &OutputError{Host: c.name, Err: failed.failure()}
		case <-ctx.Done():
			c.kill(session, stderrPID, done)
			return -1, fmt.Errorf("%s: command interrupted: %w", c.name, ctx.Err())
		case <-c.lost:
			select {
			case err := <-done: // it ended first
				session.Close()
				stderrPID.flush()
				return c.exitCode(err)
			default:
			}
			// Declared dead (keepalives): the session's reads may not end
			// before the connection's close gets through, if ever.
			go session.Close()
			return -1, c.transportError("command", io.ErrUnexpectedEOF)
		}
	}
}

// exitQuiet is the least time a command's output must have been quiet,
// after its exit status came, before its session is closed without
// waiting for the output to close (exec waits two round trips if that is
// longer). The server sends the exit status as soon as the command has
// ended, and what the command wrote before it follows at once (or as fast
// as the channel's window lets it: while it flows, the output is not
// quiet).
const exitQuiet = 250 * time.Millisecond

// exitDrain is the least time a command's output is read after its exit
// status came when it never goes quiet (exec reads it for 8 times the
// quiet period if that is longer), not counting the time writes were
// blocked: a daemon the command left writing to its output holds it no
// longer than that.
const exitDrain = 2 * time.Second

// outputClock notes when a session's output was last written to, whether
// a write is in progress, and how long writes have been in progress in
// all (stdout's and stderr's writes can overlap: then it counts once).
type outputClock struct {
	mu      sync.Mutex
	at      time.Time // the end of the last write
	writing int       // writes in progress
	since   time.Time // when writing last went from 0 to 1
	total   time.Duration
}

// quietFor is how long the output has been quiet: 0 while a write is in
// progress.
func (o *outputClock) quietFor() time.Duration {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.writing > 0 {
		return 0
	}
	return time.Since(o.at)
}

// busy is how long writes have been in progress, the one in progress
// included.
func (o *outputClock) busy() time.Duration {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.writing > 0 {
		return o.total + time.Since(o.since)
	}
	return o.total
}

func (o *outputClock) begin() {
	o.mu.Lock()
	if o.writing == 0 {
		o.since = time.Now()
	}
	o.writing++
	o.mu.Unlock()
}

func (o *outputClock) end() {
	o.mu.Lock()
	o.writing--
	o.at = time.Now()
	if o.writing == 0 {
		o.total += o.at.Sub(o.since)
	}
	o.mu.Unlock()
}

func (o *outputClock) writer(w io.Writer) io.Writer {
	if w == nil {
		w = io.Discard
	}
	return clockedWriter{o, w}
}

type clockedWriter struct {
	clock *outputClock
	w     io.Writer
}

func (c clockedWriter) Write(p []byte) (int, error) {
	c.clock.begin()
	defer c.clock.end()
	return c.w.Write(p)
}

// failedWrites notes the first failed write of a command's output to its
// caller's writers, for exec to end the command at once. x/crypto/ssh's
// copier stops at a failed write and keeps the error until the command
// exits; meanwhile the channel's window fills and the command, still
// writing, blocks: a follow forever, a long log until its deadline.
type failedWrites struct {
	once   sync.Once
	err    error
	failed chan struct{} // closed once err is set
}

func newFailedWrites() *failedWrites {
	return &failedWrites{failed: make(chan struct{})}
}

// writer is w noting its failed writes; nil stays nil (discarded).
func (f *failedWrites) writer(w io.Writer) io.Writer {
	if w == nil {
		return nil
	}
	return watchedWriter{f, w}
}

// failure is the first failed write's error, nil if none failed.
func (f *failedWrites) failure() error {
	select {
	case <-f.failed:
		return f.err
	default:
		return nil
	}
}

type watchedWriter struct {
	writes *failedWrites
	w      io.Writer
}

func (ww watchedWriter) Write(p []byte) (int, error) {
	n, err := ww.w.Write(p)
	if err == nil && n < len(p) {
		err = io.ErrShortWrite // as io.Copy, the session's copier, takes it
	}
	if err != nil {
		ww.writes.once.Do(func() {
			ww.writes.err = err
			close(ww.writes.failed)
		})
	}
	return n, err
}

// kill ends a running command and waits (boundedly) for its session to end.
//
// The SSH "signal" request alone is not enough: OpenSSH refuses it for root
// logins ("session signalling requires privilege separation"), and it does
// not acknowledge the closing of a session whose command still runs, which
// would leave the command running and Session.Wait blocked. So the command's
// process group, whose ID the command reported first thing, is also killed
// from a second session.
func (c *Client) kill(session *ssh.Session, stderrPID *pidCapture, done <-chan error) {
	_ = session.Signal(ssh.SIGKILL)
	select {
	case <-stderrPID.decided:
		if pid := stderrPID.pid; pid > 1 { // never "kill -9 -1"
			c.killProcessGroup(pid, done)
		}
	case <-done:
	case <-c.lost:
	case <-time.After(closeGrace):
	}
	_ = session.Close()
	select {
	case <-done:
	case <-c.lost:
	case <-time.After(closeGrace):
		// The server does not answer: leave Wait to return when the
		// connection closes.
	}
}

// killProcessGroup kills the remote process group pgid, unless the command
// has ended meanwhile (its group ID could then be reused).
func (c *Client) killProcessGroup(pgid int, done <-chan error) {
	// "kill -9 -PGID" is the form both dash and bash accept. A command
	// run under `sudo -n` belongs to root: the login user cannot kill
	// it, so try sudo -n (which never prompts) when the plain kill fails.
	group := "-" + strconv.Itoa(pgid)
	c.runKiller("kill -9 "+group+" 2>/dev/null || sudo -n kill -9 -- "+group+" 2>/dev/null", done)
}

// killProcessTree kills the remote process pid and every process below it
// (its children, theirs, …), unless it has ended meanwhile: see
// killTreeScript.
func (c *Client) killProcessTree(pid int, done <-chan error, sudo bool) bool {
	return c.runKiller(killTreeScript(pid, sudo), done)
}

// killTreeScript is the remote command that kills pid and every process
// below it, with the service managers' own kill-tree (shell.KillTree):
// each is stopped (SIGSTOP) as it is found, so that none forks a child the
// walk would miss, then all are killed at once. A process that belongs to
// root (a command under `sudo -n`) is killed with sudo -n when the plain
// kill fails. When the command ran under sudo (sudo), the whole walk runs
// under `sudo -n` first: on a host whose /proc is mounted hidepid=2 the
// login user cannot see root's processes, so its own walk would find only
// the shell, kill it, succeed, and leave the command running as root.
// Processes that left the tree (a daemon whose parent exited) are not in
// it.
func killTreeScript(pid int, sudo bool) string {
	walk := shell.ProcReaders + "\n" + shell.KillTree + "\n" + "omni_kill_tree " + strconv.Itoa(pid)
	script := walk + " || sudo -n kill -KILL $omni_tree 2>/dev/null\n:"
	if sudo {
		script = "sudo -n sh -c " + shell.Quote(walk) + " 2>/dev/null || {\n" + script + "\n}"
	}
	return "sh -c " + shell.Quote(script)
}

// runKiller runs cmd, a command that kills a running command's processes,
// in a session of its own, unless the command has ended meanwhile (done):
// its PIDs could then be reused. It says whether the session opened (or
// the command had ended: nothing was left to kill).
func (c *Client) runKiller(cmd string, done <-chan error) bool {
	ctx, cancel := context.WithTimeout(context.Background(), closeGrace)
	defer cancel()
	killer, err := c.newSession(ctx)
	if err != nil {
		select {
		case <-done:
			return true
		default:
			return false
		}
	}
	defer killer.Close()
	select {
	case <-done:
		return true
	default:
	}
	finished := make(chan struct{})
	go func() {
		err := killer.Start(loginLine(asScript(cmd)))
		c.countExec(err)
		if err == nil {
			_ = killer.Wait()
		}
		close(finished)
	}()
	select {
	case <-finished:
	case <-ctx.Done():
		// The server does not answer: the deferred Close lets Run return
		// if it ever does, and the connection's end if not.
	}
	return true
}

// newSession opens a session, giving up when ctx ends. An abandoned session
// is closed as soon as the server answers.
func (c *Client) newSession(ctx context.Context) (*ssh.Session, error) {
	type opened struct {
		session *ssh.Session
		err     error
		early   bool
	}
	result := make(chan opened, 1)
	c.warm.Go(func() {
		// The session opened with the login (dial.go, EarlySession): its
		// confirmation came back with the login's success, so using it
		// waits for nothing more. It is there for the first session only.
		if session, err := c.ssh.EarlySession(); session != nil || err != nil {
			result <- opened{session, err, true}
			return
		}
		session, err := c.goph.NewSession() // goph.Client wraps our own *ssh.Client
		result <- opened{session, err, false}
	})
	select {
	case r := <-result:
		if answered(r.err) && !r.early {
			c.trips.sessions.Add(1)
		}
		if r.err != nil {
			return nil, c.transportError("open session", sessionRefused(r.err))
		}
		return r.session, nil
	case <-c.lost:
		go func() {
			if r := <-result; r.session != nil {
				r.session.Close()
			}
		}()
		return nil, c.transportError("open session", io.ErrUnexpectedEOF)
	case <-ctx.Done():
		go func() {
			if r := <-result; r.session != nil {
				r.session.Close()
			}
		}()
		return nil, fmt.Errorf("%s: open session: %w", c.name, ctx.Err())
	}
}

func (c *Client) exitCode(err error) (int, error) {
	var exitErr *ssh.ExitError
	switch {
	case err == nil:
		return 0, nil
	case errors.As(err, &exitErr):
		return exitErr.ExitStatus(), nil
	default: // *ssh.ExitMissingError included: we do not know how it ended
		return -1, c.transportError("command", err)
	}
}

// transportError reports a session failure as an *UnreachableError when
// the connection is gone, so that callers can tell a lost host from a
// failed command.
func (c *Client) transportError(what string, err error) error {
	select {
	case <-c.lost:
	case <-time.After(200 * time.Millisecond):
		return fmt.Errorf("%s: %s: %w", c.name, what, err)
	}
	return c.lostError("connection lost during "+what, err)
}

// lostError is the *UnreachableError of a lost connection; reason is
// followed by why it was declared dead, if it was.
func (c *Client) lostError(reason string, err error) *UnreachableError {
	if c.lostReason != "" {
		reason += ": " + c.lostReason
	}
	return &UnreachableError{Host: c.name, Address: c.address, Reason: reason, Err: err}
}

// DialContext opens a TCP connection from the remote host to addr
// (a direct-tcpip channel), for health checks of ports only the host can
// reach; network is "tcp", "tcp4" or "tcp6". With network "unix", addr is
// the path of a Unix socket on the host (a direct-streamlocal@openssh.com
// channel; sshd's AllowStreamLocalForwarding, on by default): HAProxy's
// admin socket, for the drain step.
func (c *Client) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	conn, err := c.dial(ctx, network, addr)
	switch {
	case err == nil:
		return &countedConn{Conn: conn, exchanges: &c.trips.exchanges}, nil
	case ctx.Err() != nil:
		return nil, fmt.Errorf("%s: dial %s: %w", c.name, addr, ctx.Err())
	case c.isLost():
		return nil, c.lostError("connection lost", err)
	default:
		return nil, fmt.Errorf("%s: dial %s: %w", c.name, addr, &reasonError{dialReason(err, 0), err})
	}
}

// dial opens a direct-tcpip channel, counting the open when the server
// answered it.
func (c *Client) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	conn, err := c.ssh.DialContext(ctx, network, addr)
	if answered(err) {
		c.trips.dials.Add(1)
	}
	return conn, err
}

// countExec counts a session's "exec" request (Session.Start) when the
// server answered it: err is nil, or x/crypto's words for a refusal.
func (c *Client) countExec(err error) {
	if err == nil || (strings.HasPrefix(err.Error(), "ssh: command ") && strings.HasSuffix(err.Error(), " failed")) {
		c.trips.execs.Add(1)
	}
}

// reasonError says err in plainer words, keeping it for errors.As.
type reasonError struct {
	reason string
	err    error
}

func (e *reasonError) Error() string { return e.reason }
func (e *reasonError) Unwrap() error { return e.err }

func (c *Client) isLost() bool {
	select {
	case <-c.lost:
		return true
	default:
		return false
	}
}

// close closes the connection and waits (briefly) for it to end.
func (c *Client) close() error {
	wasLost := c.isLost()
	err := c.ssh.Close()
	select {
	case <-c.lost:
	case <-time.After(closeGrace):
	}
	if wasLost || errors.Is(err, net.ErrClosed) || errors.Is(err, io.EOF) {
		return nil
	}
	return err
}

// guardedWriters serialises the writes of a session's stdout and stderr
// copiers (which run concurrently, possibly into one writer) and drops
// writes once stopped, so the caller's writers are not touched after Stream
// returns.
type guardedWriters struct {
	mu      sync.Mutex
	stopped bool
}

func (g *guardedWriters) writer(w io.Writer) io.Writer {
	if w == nil {
		w = io.Discard
	}
	return &guardedWriter{g, w}
}

func (g *guardedWriters) stop() {
	g.mu.Lock()
	g.stopped = true
	g.mu.Unlock()
}

type guardedWriter struct {
	guard *guardedWriters
	w     io.Writer
}

func (gw *guardedWriter) Write(p []byte) (int, error) {
	gw.guard.mu.Lock()
	defer gw.guard.mu.Unlock()
	if gw.guard.stopped {
		return len(p), nil
	}
	return gw.w.Write(p)
}

// pidMarker starts the line with which a command reports, on stderr and
// before anything else, the PID of the remote shell that runs it. sshd starts
// every command in a session of its own, so that PID is also the process
// group of the command and everything it starts.
const pidMarker = "omni-transport-pid:"

// withPIDReport is the command line for cmd, its script preceded by its
// PID report (see loginLine: the sh that replaced the login shell prints
// its PID, the process group's ID).
func withPIDReport(cmd string) string {
	return loginLine("echo " + pidMarker + "$$ >&2\n" + asScript(cmd))
}

// pidCapture takes the PID report off the head of a command's stderr and
// passes everything else through. It is written by one goroutine at a time.
type pidCapture struct {
	w       io.Writer
	head    []byte
	pid     int           // valid once decided is closed; 0 if no report
	decided chan struct{} // closed once the head has been dealt with
	done    bool
}

func newPIDCapture(w io.Writer) *pidCapture {
	if w == nil {
		w = io.Discard
	}
	return &pidCapture{w: w, decided: make(chan struct{})}
}

func (p *pidCapture) Write(b []byte) (int, error) {
	if p.done {
		return p.w.Write(b)
	}
	p.head = append(p.head, b...)
	// The report is sh's first line; what the login shell printed before
	// sh started (a start-up file's complaint) comes before it.
	for start := 0; ; {
		line, rest, complete := bytes.Cut(p.head[start:], []byte("\n"))
		if !complete {
			if len(p.head) < maxBeforePID {
				return len(b), nil // the report may still be coming
			}
			break // no report: pass it all on
		}
		digits, ok := bytes.CutPrefix(line, []byte(pidMarker))
		if !ok {
			if start+len(line)+1 >= maxBeforePID {
				break
			}
			start += len(line) + 1 // a line of the login shell's
			continue
		}
		pid, err := strconv.Atoi(string(digits))
		if err != nil {
			break
		}
		p.pid = pid
		before := p.head[:start]
		p.decide()
		if err := p.writeAll(before, rest); err != nil {
			return 0, err
		}
		return len(b), nil
	}
	head := p.head
	p.decide()
	if err := p.writeAll(head); err != nil {
		return 0, err
	}
	return len(b), nil
}

// maxBeforePID bounds what pidCapture holds back while it waits for the
// report: past it, the command made no report.
const maxBeforePID = 64 << 10

// writeAll writes each non-empty part to p.w.
func (p *pidCapture) writeAll(parts ...[]byte) error {
	for _, b := range parts {
		if len(b) == 0 {
			continue
		}
		if _, err := p.w.Write(b); err != nil {
			return err
		}
	}
	return nil
}

// ReadFrom copies r's data through Write with a pooled buffer: without it
// io.Copy, which x/crypto/ssh runs on every session's stderr, allocates
// 32 KiB per command (32 MB for a status of 1,000 hosts).
func (p *pidCapture) ReadFrom(r io.Reader) (int64, error) {
	bufp := copyBuffers.Get().(*[]byte)
	defer copyBuffers.Put(bufp)
	var n int64
	for {
		k, err := r.Read(*bufp)
		if k > 0 {
			n += int64(k)
			if _, werr := p.Write((*bufp)[:k]); werr != nil {
				return n, werr
			}
		}
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
}

// copyBuffers are pidCapture.ReadFrom's buffers. A command's stderr is
// short; a long one takes more reads.
var copyBuffers = sync.Pool{New: func() any { b := make([]byte, 4<<10); return &b }}

func (p *pidCapture) decide() {
	p.done = true
	p.head = nil
	close(p.decided)
}

// flush passes on what is held back once the command has ended.
func (p *pidCapture) flush() {
	if !p.done {
		head := p.head
		p.decide()
		if len(head) > 0 {
			_, _ = p.w.Write(head)
		}
	}
}

// sessionRefused says what a refused session means: OpenSSH answers a
// session it will not open (MaxSessions 0 in its sshd_config, or in a
// Match block for this user) with a bare "connect failed (open failed)".
func sessionRefused(err error) error {
	var refused *ssh.OpenChannelError
	if errors.As(err, &refused) && refused.Reason == ssh.ConnectionFailed {
		return fmt.Errorf("%w: the host's sshd refuses this user a session (MaxSessions 0 in its sshd_config?)", err)
	}
	return err
}
