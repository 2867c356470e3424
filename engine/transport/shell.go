package transport

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/omni-fleet/omni/internal/cutnote"
	"github.com/omni-fleet/omni/internal/shell"
	"golang.org/x/crypto/ssh"
)

// A Client runs the commands of Run through one long-lived remote shell:
// one SSH session, opened at the first Run, fed one command at a time on
// its stdin. A session costs the host a process of sshd's and a login
// shell; a command in the shell costs a fork and a small sh. A restart
// runs three or more commands on a host, a status of many services more.
//
// Each command is sent as
//
//	(exec sh -c 'CMD' </dev/null 2>&3 3>&-)
//	printf '\nMARK %d\n' "$?"
//	printf '\nMARK\n' >&3
//
// (a CMD that is itself `sh -c 'SCRIPT'` or `sudo -n sh -c 'SCRIPT'`, as
// the service managers send, is exec'd as it stands: see ownShell). The
// first command rides in the shell's start request instead of on stdin
// (see startShell): the first Run costs the session's open and one round
// trip, not a third for the start.
// The shell starts with `exec 3>&2 2>/dev/null`: fd 3 is the session's
// stderr, where the command's stderr goes, and the shell's own notices go
// nowhere, such as the "Terminated" it prints when the command is killed
// by a signal. The command runs in a subshell so that those notices are
// printed while the shell's fd 2 is /dev/null (dash applies a simple
// command's redirections in the parent).
//
// MARK is random for each shell, so that no output can forge it:
// the command's stdout is what precedes "\nMARK" on the session's stdout,
// its exit code follows it, and its stderr is what precedes "\nMARK" on
// the session's stderr. The command runs in an `sh -c` of its own, so its
// `exit`, `$$`, syntax errors and variables stay its own, and it reads
// /dev/null, not the commands after it. Run does not wait for processes the
// command left in the background, even when they keep its output open; if
// they write to it later, that output is taken as the next command's.
//
// Only one command runs in the shell at a time: a Run that finds it busy
// opens a session of its own, as does every Stream. When ctx ends during a
// command, the shell is killed with the command and every process below
// it (see kill) and the next Run starts a new shell. A server that refuses the
// shell's session gets one session per command from then on.

// remoteShell is one long-lived remote shell and the readers of its output.
type remoteShell struct {
	c       *Client
	session *ssh.Session
	stdin   io.WriteCloser
	mark    string
	pgid    int
	stdout  chan frame    // one frame per command, closed at the end of the output
	stderr  chan frame    // the same for stderr
	ended   chan error    // closed once the session has ended
	quit    chan struct{} // closed when the shell is dropped: readers stop
	once    sync.Once
	dead    bool // killed, ended or out of step: start another
	// started gets the start request's result (nil: sh runs). inStart:
	// the first command rode in the request; else pending is that command,
	// to send on stdin once sh runs.
	started chan error
	inStart bool
	pending string
	// sudo: the command in flight runs under `sudo -n` (a service
	// manager's wrap): its processes are root's, and a host whose /proc
	// is mounted hidepid=2 hides them from the login user.
	sudo bool
}

// underSudo reports whether cmd runs under sudo -n, as the service
// managers wrap a service's commands.
func underSudo(cmd string) bool { return strings.HasPrefix(cmd, "sudo -n ") }

// frame is one command's output on one stream, and what followed the
// mark on its line (" CODE" on stdout, "" on stderr).
type frame struct {
	data     []byte
	tail     string
	overflow bool // the command's output passed MaxOutput: data is not all of it
	// cut: the stream ended before the mark; data is what came without
	// one (what a login shell that refused to run the command said).
	cut bool
}

// runInShell runs cmd in the connection's shell, starting one when there
// is none and start is true. ok is false when it did not run cmd at all
// (no shell, or it is busy, or the host refused to start it): the caller
// then runs it in a session of its own.
func (c *Client) runInShell(ctx context.Context, cmd string, start, keepEnds bool) (res Result, ok bool, err error) {
	if !c.shellMu.TryLock() {
		return Result{}, false, nil
	}
	defer c.shellMu.Unlock()
	if c.noShell {
		return Result{}, false, nil
	}
	if c.shell != nil && !c.shell.dead {
		return c.shell.run(ctx, cmd, keepEnds)
	}
	if !start {
		return Result{}, false, nil
	}
	sh, err := c.startShell(ctx, cmd)
	if err != nil {
		c.shellRefused(ctx)
		return Result{}, false, nil
	}
	c.shell = sh
	res, ok, err = sh.runFirst(ctx, keepEnds)
	if !ok {
		c.shell = nil
		c.shellRefused(ctx)
	}
	return res, ok, err
}

// shellRefused notes that the host would not start the shell, unless the
// failure was the caller giving up or the connection going: one session
// per command from now on.
func (c *Client) shellRefused(ctx context.Context) {
	if ctx.Err() == nil && !c.isLost() {
		c.noShell = true
	}
}

// maxStartCommand bounds the first command that rides in the shell's
// start request (see startShell): the request is one SSH packet and the
// login shell gets it as one argument (Linux takes 128 KiB). A longer
// first command is sent on stdin once the shell has started.
const maxStartCommand = 32 << 10

// startShell opens the session and starts sh in it, with first, the
// shell's first command, in the start request itself:
//
//	exec sh -c 'START LINE; FIRST COMMAND; exec sh'
//
// The start line saves fd 2 and reports the shell's PID, which is also its
// process group: sshd starts each session's command in a session of its
// own, the login shell execs sh -c, and that execs the long-lived sh, which
// reads the later commands from stdin. The request is sent without waiting
// for its reply: the reply and the first command's output come back in the
// same round trip, and runFirst reads both. A host that refuses the request
// has run nothing; runFirst then says so (ok false) and the command runs in
// a session of its own. A first command longer than maxStartCommand is
// sent on stdin once the reply has come, as every later command is.
func (c *Client) startShell(ctx context.Context, first string) (*remoteShell, error) {
	var nonce [16]byte
	if _, err := rand.Read(nonce[:]); err != nil {
		return nil, err
	}
	session, err := c.newSession(ctx)
	if err != nil {
		return nil, err
	}
	sh := &remoteShell{
		c: c, session: session, mark: "omni-shell-" + hex.EncodeToString(nonce[:]),
		stdout: make(chan frame), stderr: make(chan frame),
		ended: make(chan error), quit: make(chan struct{}), started: make(chan error, 1),
	}
	stdin, err1 := session.StdinPipe()
	stdout, err2 := session.StdoutPipe()
	stderr, err3 := session.StderrPipe()
	if err := errors.Join(err1, err2, err3); err != nil {
		session.Close()
		return nil, err
	}
	sh.stdin = stdin
	sh.sudo = underSudo(first)
	line := "exec sh"
	if script := sh.command(first); len(script) <= maxStartCommand {
		line = loginLine(sh.framed(startLine) + script + "exec sh\n")
		sh.inStart = true
	} else {
		sh.pending = script
	}
	go sh.read(stdout, sh.stdout)
	go sh.read(stderr, sh.stderr)
	go func() {
		err := session.Start(line)
		sh.started <- err
		if err == nil {
			_ = session.Wait()
		}
		close(sh.ended)
	}()
	return sh, nil
}

// startLine is the shell's own first line: see the comment at the top.
const startLine = "exec 3>&2 2>/dev/null; echo; echo $$" // the PID on a line of its own, after whatever the login printed

// command is cmd as the shell runs it: in its own sh, reading /dev/null,
// its stderr on the session's, framed by the marks.
func (sh *remoteShell) command(cmd string) string {
	if !ownShell.MatchString(cmd) {
		cmd = "sh -c " + shell.Quote(cmd)
	}
	return sh.framed("(exec " + cmd + " </dev/null 2>&3 3>&-)")
}

// run runs cmd in its own sh in the shell.
func (sh *remoteShell) run(ctx context.Context, cmd string, keepEnds bool) (Result, bool, error) {
	sh.sudo = underSudo(cmd)
	if n, err := sh.stdin.Write([]byte(sh.command(cmd))); err != nil {
		sh.drop()
		if n == 0 {
			return Result{}, false, nil
		}
		return Result{ExitCode: -1}, true, sh.c.transportError("command", err)
	}
	sh.c.trips.shellCommands.Add(1)
	res, err := sh.collect(ctx, keepEnds)
	return res, true, err
}

// runFirst waits for the shell's start and its first command, sent by
// startShell: the start request's reply, the PID report, the command's
// output. ok is false when the host refused to start the shell, which
// then ran nothing.
func (sh *remoteShell) runFirst(ctx context.Context, keepEnds bool) (Result, bool, error) {
	sh.c.trips.shellCommands.Add(1) // the start request rides along
	if !sh.inStart {
		// Too long to ride along: wait for the start, then send it.
		sh.c.trips.execs.Add(1)
		select {
		case err := <-sh.started:
			if err != nil {
				return sh.startFailed(err)
			}
		case <-ctx.Done():
			sh.kill(false, nil)
			return Result{ExitCode: -1}, true, fmt.Errorf("%s: command interrupted: %w", sh.c.name, ctx.Err())
		}
		script := sh.framed(startLine) + sh.pending
		if _, err := sh.stdin.Write([]byte(script)); err != nil {
			sh.drop()
			return Result{ExitCode: -1}, true, sh.c.transportError("command", err)
		}
	}
	res, err := sh.collect(ctx, false) // the start line's report
	if err != nil {
		if errors.Is(err, errShellRefused) {
			return Result{}, false, nil
		}
		return res, true, err
	}
	pid, perr := shellPID(res.Stdout)
	if perr != nil || pid <= 1 {
		sh.drop()
		return Result{ExitCode: -1}, true, fmt.Errorf("%s: the remote shell did not start: it printed %q, %q",
			sh.c.name, res.Stdout, res.Stderr)
	}
	sh.pgid = pid
	res, err = sh.collect(ctx, keepEnds)
	return res, true, err
}

// startFailed is the shell's start request failing: refused by the host
// (ok false: nothing ran), or the connection lost.
func (sh *remoteShell) startFailed(err error) (Result, bool, error) {
	sh.drop()
	if sh.c.isLost() || errors.Is(err, io.EOF) {
		return Result{ExitCode: -1}, true, sh.c.transportError("start shell", err)
	}
	return Result{}, false, nil
}

// errShellRefused is collect's error when the host refused the shell's
// start request before the first frame came.
var errShellRefused = errors.New("the host refused to start the shell")

// framed is line followed by the lines that print the marks.
func (sh *remoteShell) framed(line string) string {
	return line + "\nprintf '\\n%s %d\\n' " + sh.mark + ` "$?"` + "\nprintf '\\n%s\\n' " + sh.mark + " >&3\n"
}

// collect waits for the next frame on stdout and on stderr: one command's
// output and exit code. When ctx ends first, it kills the shell. A frame
// past MaxOutput is an error unless keepEnds (its ends are then the
// output).
func (sh *remoteShell) collect(ctx context.Context, keepEnds bool) (res Result, err error) {
	res.ExitCode = -1
	out, errs := sh.stdout, sh.stderr
	started := sh.started // the start request's reply, until it has come
	if !sh.inStart || sh.pgid != 0 {
		started = nil
	}
	overflow := false // a frame passed MaxOutput
	var cut [2][]byte // what came on stdout, stderr, without a mark
	for out != nil || errs != nil {
		var f frame
		var open bool
		select {
		case err := <-started:
			started = nil
			if err != nil {
				if _, ok, err := sh.startFailed(err); ok {
					return Result{ExitCode: -1}, err
				}
				return Result{ExitCode: -1}, errShellRefused
			}
			continue
		case f, open = <-out:
			out = nil
			if open && f.cut {
				cut[0], open = f.data, false
			}
			overflow = overflow || (open && f.overflow)
			if open {
				res.Stdout = f.data
				if res.ExitCode, err = strconv.Atoi(strings.TrimSpace(f.tail)); err != nil {
					sh.drop()
					return Result{ExitCode: -1}, fmt.Errorf("%s: bad exit status %q from the shell", sh.c.name, f.tail)
				}
			}
		case f, open = <-errs:
			errs = nil
			if open && f.cut {
				cut[1], open = f.data, false
			}
			overflow = overflow || (open && f.overflow)
			res.Stderr = f.data
		case <-ctx.Done():
			sh.kill(out == nil && sh.pgid == 0, res.Stdout)
			return Result{ExitCode: -1}, fmt.Errorf("%s: command interrupted: %w", sh.c.name, ctx.Err())
		case <-sh.c.lost:
			// Declared dead (keepalives): the shell's output may never
			// end, nor its session's close get through.
			sh.dead = true
			go sh.release()
			return Result{ExitCode: -1}, sh.c.transportError("command", io.ErrUnexpectedEOF)
		}
		if !open { // the session ended before the command did
			// What the shell said on its other stream before that one
			// ended too (bounded), then whether the connection is lost.
			wait := time.After(200 * time.Millisecond)
			for i, ch := range [2]<-chan frame{out, errs} {
				if ch == nil {
					continue
				}
				select {
				case f, ok := <-ch:
					if ok && f.cut {
						cut[i] = f.data
					}
				case <-wait:
				}
			}
			sh.drop()
			err := sh.c.transportError("command", io.ErrUnexpectedEOF)
			var lost *UnreachableError
			if said := cutText(cut); said != "" && !errors.As(err, &lost) {
				// The shell itself ended, saying why (a login shell that
				// refuses to run commands: nologin, csh's quoting): the
				// host answered, and its words are the error.
				err = fmt.Errorf("%s: the remote shell ended before the command finished: %s", sh.c.name, said)
			}
			return Result{ExitCode: -1}, err
		}
	}
	if overflow && !keepEnds {
		return Result{ExitCode: -1}, outputOverflow(sh.c.name)
	}
	return res, nil
}

// read splits one output stream of the shell into frames. A frame past
// MaxOutput keeps its first and last keepEnd bytes, a cutnote.Note between
// them, and is marked overflow.
func (sh *remoteShell) read(r io.Reader, frames chan<- frame) {
	defer close(frames)
	sep := []byte("\n" + sh.mark)
	var buf []byte
	chunk := make([]byte, 32<<10)
	from := 0 // where to look for sep next
	var head []byte
	var cut int64 // past MaxOutput: the frame's first keepEnd bytes, and how many were left out after them
	for {
		n, err := r.Read(chunk)
		buf = append(buf, chunk[:n]...)
		for {
			i := bytes.Index(buf[from:], sep)
			if i < 0 {
				// No mark starts before from now: what is before it can go.
				from = max(0, len(buf)-len(sep)+1)
				if head == nil && len(buf) > MaxOutput {
					// A host flooding its output: only its ends are kept.
					head = bytes.Clone(buf[:keepEnd])
					buf, from = buf[keepEnd:], from-keepEnd
				}
				if head != nil && len(buf) > 2*keepEnd {
					drop := min(len(buf)-keepEnd, from)
					cut += int64(drop)
					buf, from = append(buf[:0:0], buf[drop:]...), from-drop
				}
				break
			}
			i += from
			j := bytes.IndexByte(buf[i+len(sep):], '\n')
			if j < 0 { // the mark's line is not complete yet
				from = i
				break
			}
			f := frame{tail: string(buf[i+len(sep) : i+len(sep)+j])}
			data := buf[:i]
			if head == nil && len(data) > MaxOutput { // as a session of its own counts it
				head, data = data[:keepEnd], data[keepEnd:]
				cut, data = int64(len(data)-keepEnd), data[len(data)-keepEnd:]
			}
			if head != nil {
				f.overflow = true
				f.data = append(append(bytes.Clone(head), cutnote.Note(cut)...), data...)
			} else {
				f.data = bytes.Clone(data)
			}
			head, cut = nil, 0
			select {
			case frames <- f:
			case <-sh.quit:
				return
			}
			buf = buf[i+len(sep)+j+1:]
			from = 0
		}
		if err != nil {
			if len(buf) > 0 && head == nil {
				select {
				case frames <- frame{data: buf, cut: true}:
				case <-sh.quit:
				}
			}
			return
		}
	}
}

// kill ends the shell with the command in flight and every process below
// it (see Client.kill). Not the shell's whole process group, as for a
// command in a session of its own: the commands before this one ran in
// that group too, and what they left running (a service started with
// `nohup … &`) is not this command's to kill. When the shell's PID is not
// known yet, it waits (boundedly) for the start line's report, unless
// that has just been read (gotPID, with pidOut the report).
//
// The SSH "signal" request is sent only when the kill could not run: for
// a login other than root's, OpenSSH carries it out as a kill of the
// session's whole process group.
func (sh *remoteShell) kill(gotPID bool, pidOut []byte) {
	pgid := sh.pgid
	if pgid == 0 {
		if !gotPID {
			select {
			case f, ok := <-sh.stdout:
				if ok {
					pidOut = f.data
				}
			case <-sh.ended:
			case <-time.After(closeGrace):
			}
		}
		pgid, _ = shellPID(pidOut)
	}
	if pgid <= 1 || !sh.c.killProcessTree(pgid, sh.ended, sh.sudo) {
		_ = sh.session.Signal(ssh.SIGKILL)
	}
	sh.drop()
}

// shellEndWait bounds how long closing a connection waits for its shell
// to exit.
const shellEndWait = 2 * time.Second

// endShell ends the connection's shell, when it has one that is idle, and
// waits (boundedly) until it has exited: the shell then ends on the host
// before the connection does, and sshd reaps it, instead of it outliving
// the connection for a moment and being reaped by init. One round trip,
// unless EndShellAhead sent the end already: then only what is left of
// that one's wait.
func (c *Client) endShell() {
	if !c.shellMu.TryLock() {
		return // a command runs in it: closing the connection ends both
	}
	defer c.shellMu.Unlock()
	for _, sh := range c.ending {
		c.awaitShellEnd(sh)
	}
	c.ending = nil
	sh := c.shell
	if sh == nil || sh.dead {
		return
	}
	_ = sh.stdin.Close() // the shell reads the end of its input and exits
	c.trips.shellEnds.Add(1)
	c.awaitShellEnd(sh)
}

// awaitShellEnd waits (boundedly) for sh, whose input is closed, to exit,
// then closes its session.
func (c *Client) awaitShellEnd(sh *remoteShell) {
	select {
	case <-sh.ended:
	case <-c.lost:
	case <-time.After(shellEndWait):
	}
	sh.drop()
}

// EndShellAhead ends the connection's shell, when it has one that is
// idle, without waiting for it: the caller knows it will run no more
// commands on the connection (or, if it does, that a new shell may start
// for them), and sends the shell's end along with its last requests (a
// health check's channels), so that the shell's exit comes back while
// they are answered. Release and Pool.Close still wait (boundedly) for the
// shell to have exited before the connection closes, as endShell does, but
// by then it usually has: the connection's last host in a fleet run no
// longer adds a round trip to the run's end. The next Run starts another
// shell. Nothing is waited for here, so it is no round trip (see
// RoundTrips): the end's wait, if any is left, is endShell's.
func (c *Client) EndShellAhead() {
	if !c.shellMu.TryLock() {
		return // a command runs in it
	}
	defer c.shellMu.Unlock()
	sh := c.shell
	if sh == nil || sh.dead {
		return
	}
	_ = sh.stdin.Close()
	sh.dead = true // not run in again; its session is closed by endShell
	c.shell = nil
	c.ending = append(c.ending, sh)
}

// drop closes the shell's session; the next Run starts another shell.
func (sh *remoteShell) drop() {
	sh.dead = true
	sh.release()
}

// release closes the shell's session, once; drop without marking the
// shell dead, for a goroutine of its own.
func (sh *remoteShell) release() {
	sh.once.Do(func() {
		close(sh.quit)
		_ = sh.stdin.Close()
		_ = sh.session.Close()
	})
}

// cutText is what a shell that ended said without a mark, stdout's and
// stderr's, as one line of text (bounded), "" when it said nothing.
func cutText(cut [2][]byte) string {
	var parts []string
	for _, b := range cut {
		if t := strings.Join(strings.Fields(string(b)), " "); t != "" {
			parts = append(parts, t)
		}
	}
	t := strings.Join(parts, "; ")
	if len(t) > 512 {
		t = t[:512] + "…"
	}
	return t
}

// shellPID reads the shell's PID from its start line's output: the last
// line. What comes before it is what the login shell printed before it
// ran the command (a banner a ~/.bashrc or ~/.zshenv echoes), which a
// session of its own passes on as the command's output and the reports'
// readers skip; the start line prints an empty line first, so the PID is
// on a line of its own even after a banner without a newline.
func shellPID(out []byte) (int, error) {
	s := strings.TrimSpace(string(out))
	return strconv.Atoi(s[strings.LastIndexByte(s, '\n')+1:])
}
