package engine

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/omni-fleet/omni/engine/manager"
)

// Every remote command omni runs has a deadline. A step's own timeout
// (stop: grace + 20s, start: start_timeout, ...) bounds the commands of
// that step, a health check's timeout each attempt's; a command without
// one (the status of `omni service status`, the logs of `omni service
// logs` without -f, the status reads of the dependency checks) gets the
// inventory's command_timeout. The bound is applied here, where the engine hands a
// host's connection to the managers and health checks, and nowhere else.
// When it expires the transport kills the command's remote process group.

// TimeoutError is a step or remote command that did not end within its
// bound; what it ran on the host was killed.
type TimeoutError struct {
	After time.Duration
}

func (e *TimeoutError) Error() string { return fmt.Sprintf("timed out after %s", e.After) }

// boundKey marks a context whose deadline is already the bound of the
// commands run with it (ownBound), or that must have none (unbounded).
type boundKey struct{}

const (
	boundOwn  = 1 // a step's timeout, a health attempt's: keep it
	boundNone = 2 // logs -f: until Ctrl-C
)

// ownBound marks ctx, which carries a step's (or a health attempt's)
// timeout, so that boundedConn keeps that deadline, even a longer one,
// instead of adding the command timeout.
func ownBound(ctx context.Context) context.Context {
	return context.WithValue(ctx, boundKey{}, boundOwn)
}

// unbounded marks ctx so that boundedConn leaves its commands without a
// deadline: `omni service logs -f`, which Ctrl-C ends.
func unbounded(ctx context.Context) context.Context {
	return context.WithValue(ctx, boundKey{}, boundNone)
}

// boundedConn is a Conn whose commands end within bound, or sooner when
// the caller's context ends, unless the context is marked with a bound
// of its own (ownBound) or none (unbounded). A deadline the caller merely
// inherited, such as a whole run's, does not replace the bound.
type boundedConn struct {
	Conn
	bound time.Duration
}

// withBound wraps c so that each of its commands has a deadline; bound <= 0
// leaves c as it is.
func withBound(c Conn, bound time.Duration) Conn {
	if bound <= 0 || c == nil {
		return c
	}
	return boundedConn{Conn: c, bound: bound}
}

// unwrapConn returns the connection a boundedConn wraps (c itself when it
// is not one): the one its Connector handed out, and takes back (Release).
func unwrapConn(c Conn) Conn {
	if b, ok := c.(boundedConn); ok {
		return b.Conn
	}
	return c
}

// limit returns the context a command runs with, and done, which turns
// the error of a command cut short by the bound into a *TimeoutError.
func (b boundedConn) limit(ctx context.Context) (context.Context, func(error) error) {
	if ctx.Value(boundKey{}) != nil {
		return ctx, func(err error) error { return err }
	}
	cctx, cancel := context.WithTimeout(ctx, b.bound)
	return cctx, func(err error) error {
		defer cancel()
		if err != nil && cctx.Err() == context.DeadlineExceeded && ctx.Err() == nil {
			return &TimeoutError{After: b.bound}
		}
		return err
	}
}

func (b boundedConn) Run(ctx context.Context, cmd string) (manager.Result, error) {
	ctx, done := b.limit(ctx)
	res, err := b.Conn.Run(ctx, cmd)
	return res, done(err)
}

// RunEnds implements manager.EndsRunner: the connection's RunEnds, where
// it has one, else its Run, within the bound.
func (b boundedConn) RunEnds(ctx context.Context, cmd string) (manager.Result, error) {
	ctx, done := b.limit(ctx)
	run := b.Conn.Run
	if er, ok := b.Conn.(manager.EndsRunner); ok {
		run = er.RunEnds
	}
	res, err := run(ctx, cmd)
	return res, done(err)
}

func (b boundedConn) Stream(ctx context.Context, cmd string, stdout, stderr io.Writer) (int, error) {
	ctx, done := b.limit(ctx)
	code, err := b.Conn.Stream(ctx, cmd, stdout, stderr)
	return code, done(err)
}
