package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"syscall"
	"unicode/utf8"

	"github.com/omni-fleet/omni/engine"
	"github.com/omni-fleet/omni/engine/transport"
	"github.com/omni-fleet/omni/inventory"
)

// `omni service logs`, of one host or of a fleet: the log goes to stdout
// as it is (on a terminal, made safe to show: appendTerminalSafe),
// whatever the output format; what became of each host is said on stderr,
// as soon as it is known; the exit code is the run's (logsEnd).

// logsWriters are the writers of the logs of one host: s's, made safe to
// show where they are a terminal; flush writes what they hold back.
func logsWriters(s Streams) (stdout, stderr io.Writer, flush func()) {
	stdout, stderr = s.Out, s.Err
	var safe []*terminalSafe
	if s.OutTTY {
		t := &terminalSafe{w: s.Out}
		safe, stdout = append(safe, t), t
	}
	if s.ErrTTY {
		t := &terminalSafe{w: s.Err}
		safe, stderr = append(safe, t), t
	}
	return stdout, stderr, func() {
		for _, t := range safe {
			t.flush()
		}
	}
}

// logsOneEnd says what became of the logs of one host (sayLogsHost) and
// returns the run's exit code (logsEnd): no JSON document, even with -o
// json, whose stdout is the log.
func logsOneEnd(s Streams, out *engine.Outcome) error {
	sayLogsHost(s.Err, out, out.Err)
	return logsEnd(s, exitCode(out.Err), logsWriteError(out.Err))
}

// sayLogsHost says on w (stderr) what became of the logs of one host:
// its logs step's warning ("omni: web1: app: the logs command ended under
// --follow: …") and its error, named as the error names it ("omni: web1:
// app: logs: …"), each on one line. A failed write of the logs is not the
// host's doing: logsEnd says it.
func sayLogsHost(w io.Writer, out *engine.Outcome, err error) {
	if out != nil {
		for _, st := range out.Steps {
			if st.Task.Step == engine.StepLogs && st.Warning != "" {
				fmt.Fprintf(w, "omni: %s: %s: %s\n", st.Task.Host, st.Task.Service, oneLine(st.Warning))
			}
		}
	}
	if err != nil && logsWriteError(err) == nil {
		fmt.Fprintf(w, "omni: %s\n", oneLine(engine.Words(err)))
	}
}

// logsWriteError is the error of a failed write of the logs that err
// carries (a *transport.OutputError: the host's command was killed), nil
// if none.
func logsWriteError(err error) error {
	var out *transport.OutputError
	if errors.As(err, &out) {
		return out.Err
	}
	return nil
}

// logsEnd is the result of a logs run whose hosts give exit code code,
// and whose writes of the logs failed with writeErr (nil: none did). A
// reader that left (EPIPE: `omni service logs … | head`) ends the run
// quietly with exit 0, as `git log | head` does: it chose to stop.
// Another failed write (a full disk) is said, exit 1, whatever the hosts
// did: it is never the host's timeout.
func logsEnd(s Streams, code int, writeErr error) error {
	switch {
	case writeErr == nil:
		return codeOnly(code)
	case errors.Is(writeErr, syscall.EPIPE):
		return nil
	default:
		fmt.Fprintf(s.Err, "omni: writing the logs: %v\n", writeErr)
		return codeOnly(ExitFailed)
	}
}

// fleetLogs prints the logs of every host, each line prefixed with its
// host; with --follow it streams them all until Ctrl-C. engine.Run fans
// out (--forks at a time; every host at once with --follow) and tells of
// each host as it finishes: what became of it is said then (sayLogsHost),
// not once the run is over (with --follow, at Ctrl-C). Like any logs, it
// takes no lock, records no event and opens no registry
// (engine.ReadsOnly). Every host is read, whatever --max-failures says.
// The first failed write of the logs ends the run (every host's command
// is killed): see logsEnd.
func fleetLogs(ctx context.Context, g *globalOptions, s Streams, opts *serviceOptions, inv *inventory.Inventory, req engine.Request, targets []engine.Target) error {
	if opts.Forks < 1 {
		return &usageError{"--forks must be 1 or more"}
	}
	reg, err := openStoreFor(ctx, g, inv, targets)
	if err != nil {
		return err
	}
	if reg != nil {
		defer reg.Close()
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	failed := &writeFailure{cancel: cancel}
	width := 0
	for _, t := range targets {
		width = max(width, len(t.Host))
	}
	var mu sync.Mutex // one line at a time, on stdout and stderr
	fo := engine.FleetOptions{Forks: opts.Forks, MaxFailures: len(targets)}
	if opts.Follow {
		fo.Forks = len(targets) // every host streams at once
	}
	res, err := engine.Run(ctx, reg, engine.RunRequest{Request: req, Targets: targets, Fleet: true, Options: fo},
		engine.RunEnv{
			Inventory: inv,
			Connect:   func() (engine.Connector, func(), error) { return connector(g, s, inv) },
			Stdout:    s.Out, Stderr: s.Err,
			HostOutput: func(host string) (io.Writer, io.Writer, func()) {
				prefix := fmt.Sprintf("%-*s | ", width, host)
				out := &prefixWriter{mu: &mu, w: s.Out, prefix: prefix, clean: s.OutTTY, failed: failed.fail}
				errOut := &prefixWriter{mu: &mu, w: s.Err, prefix: prefix, clean: s.ErrTTY, failed: failed.fail}
				return out, errOut, func() { out.flush(); errOut.flush() }
			},
			OnEvent: func(ev engine.FleetEvent) {
				if ev.Kind != engine.EventFinish || failed.err() != nil {
					return // after a failed write, the hosts end because of it
				}
				mu.Lock()
				defer mu.Unlock()
				sayLogsHost(s.Err, ev.Report.Outcome, ev.Report.Err)
			},
			Warn: warner(s),
		})
	if err != nil {
		return err
	}
	return logsEnd(s, classCode(res.Class()), failed.err())
}

// writeFailure keeps the first failed write of a fleet's logs, and ends
// the run then (cancel): the hosts that write nothing (a quiet log under
// --follow) would never meet the failure themselves.
type writeFailure struct {
	mu     sync.Mutex
	first  error
	cancel context.CancelFunc
}

func (f *writeFailure) fail(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.first == nil {
		f.first = err
		f.cancel()
	}
}

func (f *writeFailure) err() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.first
}

// maxLinePart bounds the part of a line a prefixWriter holds: past it,
// the part is written as a line of its own, and the rest of the line
// follows as the next.
const maxLinePart = 64 << 10

// prefixWriter writes a host's output (a fleet's logs) as lines, each
// with the host's prefix, one writer at a time (mu, shared by the hosts).
// A line longer than maxLinePart (a dump without newline) is written in
// parts of that size, each a line: memory stays bounded, and each byte is
// looked at once. clean (a terminal): the text is shown as the logs of one
// host are (appendTerminalSafe), so that no line poses as another host's.
// The first write that fails is told to failed (nil: to no one); every
// write after it fails the same.
type prefixWriter struct {
	mu     *sync.Mutex
	w      io.Writer
	prefix string
	clean  bool
	failed func(error)

	buf  []byte // the line so far: at most maxLinePart bytes
	line []byte // the line as written, reused
	cut  bool   // the last line written was a part: a newline right after it ends it
	err  error
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	if p.err != nil {
		return 0, p.err
	}
	n := len(b)
	for len(b) > 0 {
		if p.cut && len(p.buf) == 0 && b[0] == '\n' {
			b = b[1:] // the end of a line written in parts
		}
		p.cut = false
		chunk := b[:min(len(b), maxLinePart-len(p.buf))]
		i := bytes.IndexByte(chunk, '\n')
		switch {
		case i >= 0:
			p.buf = append(p.buf, chunk[:i]...)
			b = b[i+1:]
			if err := p.writeLine(false); err != nil {
				return 0, err
			}
		case len(p.buf)+len(chunk) == maxLinePart:
			p.buf = append(p.buf, chunk...)
			b = b[len(chunk):]
			if err := p.writeLine(true); err != nil {
				return 0, err
			}
		default:
			p.buf = append(p.buf, chunk...)
			b = b[len(chunk):]
		}
	}
	return n, nil
}

// writeLine writes the line held, with its prefix and a newline. part:
// it is a part of a longer line, cut at maxLinePart; a character cut in
// two there is held for the next part.
func (p *prefixWriter) writeLine(part bool) error {
	text := p.buf
	if part {
		text = text[:len(text)-cutRune(text)]
	}
	p.line = append(p.line[:0], p.prefix...)
	if p.clean {
		var held int
		if p.line, held = appendTerminalSafe(p.line, text); held > 0 {
			p.line = append(p.line, '?') // a line that ends inside a character
		}
	} else {
		p.line = append(p.line, text...)
	}
	p.line = append(p.line, '\n')
	p.buf = append(p.buf[:0], p.buf[len(text):]...)
	p.cut = part
	p.mu.Lock()
	_, err := p.w.Write(p.line)
	p.mu.Unlock()
	if err != nil {
		p.err = err
		if p.failed != nil {
			p.failed(err)
		}
	}
	return err
}

// flush writes the end of a last line without newline.
func (p *prefixWriter) flush() {
	if len(p.buf) > 0 && p.err == nil {
		_ = p.writeLine(false)
	}
}

// cutRune is how many bytes at b's end begin a character they do not
// complete: 0 when b ends on a character's end.
func cutRune(b []byte) int {
	for k := 1; k < utf8.UTFMax && k <= len(b); k++ {
		if utf8.RuneStart(b[len(b)-k]) {
			if utf8.FullRune(b[len(b)-k:]) {
				return 0
			}
			return k
		}
	}
	return 0
}
