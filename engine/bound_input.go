package engine

import (
	"context"

	"github.com/omni-fleet/omni/engine/config"
	"github.com/omni-fleet/omni/engine/manager"
)

// boundedInputConn is a boundedConn whose connection can feed a command's
// standard input (config.InputRunner): config.Apply then sends file
// contents on stdin, never in the command line (no argv size limit, not
// visible in the host's process list).
type boundedInputConn struct {
	boundedConn
	in config.InputRunner
}

// RunInput runs cmd with stdin, within the connection's bound.
func (b boundedInputConn) RunInput(ctx context.Context, cmd string, stdin []byte) (manager.Result, error) {
	ctx, done := b.limit(ctx)
	res, err := b.in.RunInput(ctx, cmd, stdin)
	return res, done(err)
}

// writer is the Runner config.Apply writes through: c, keeping the
// ability of the connection under its bound to feed stdin.
func writer(c Conn) manager.Runner {
	b, ok := c.(boundedConn)
	if !ok {
		return c
	}
	if in, ok := b.Conn.(config.InputRunner); ok {
		return boundedInputConn{boundedConn: b, in: in}
	}
	return c
}
