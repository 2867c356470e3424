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
// that step; a command that has no deadline of its own (a status of
// `omni service status`, the logs of `omni service logs` without -f, the
// status reads of the dependency checks) gets the inventory's
// command_timeout. The bound is applied here, where the engine hands a
// host's connection to the managers and health checks, and nowhere else.
// When it expires the transport kills the command's remote process group.

// TimeoutError is a step or remote command that did not end within its
// bound; what it ran on the host was killed.
type TimeoutError struct {
	After time.Duration
}

func (e *TimeoutError) Error() string { return fmt.Sprintf("timed out after %s", e.After) }

// unboundedKey marks a context whose remote commands may run until it
// ends: `omni service logs -f`, which Ctrl-C ends.
type unboundedKey struct{}

// unbounded returns ctx marked so that boundedConn leaves its commands
// without the command timeout.
func unbounded(ctx context.Context) context.Context {
	return context.WithValue(ctx, unboundedKey{}, true)
}

// boundedConn is a Conn whose commands run with bound as their deadline
// when the caller's context has none.
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

// limit returns the context a command runs with, and done, which turns
// the error of a command cut short by the bound into a *TimeoutError.
func (b boundedConn) limit(ctx context.Context) (context.Context, func(error) error) {
	if _, has := ctx.Deadline(); has || ctx.Value(unboundedKey{}) != nil {
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

func (b boundedConn) Stream(ctx context.Context, cmd string, stdout, stderr io.Writer) (int, error) {
	ctx, done := b.limit(ctx)
	code, err := b.Conn.Stream(ctx, cmd, stdout, stderr)
	return code, done(err)
}
