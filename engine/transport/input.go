package transport

import (
	"bytes"
	"context"
)

// RunInput is Run with input: the command reads stdin from its standard
// input, then end of file. It runs in a session of its own (the long-lived
// shell reads its commands on its stdin), so it costs the session's open
// besides the command. Data passed this way is in no process's argv: it
// is not bounded by the host's limit on one argument (128 KiB on Linux),
// and other users of the host cannot read it with ps. Errors and
// cancellation are as for Run.
func (c *Client) RunInput(ctx context.Context, cmd string, stdin []byte) (Result, error) {
	var stdout, stderr boundedBuffer
	code, err := c.exec(ctx, cmd, bytes.NewReader(stdin), &stdout, &stderr)
	if err != nil {
		return Result{ExitCode: -1}, err
	}
	if stdout.overflow || stderr.overflow {
		return Result{ExitCode: -1}, outputOverflow(c.name)
	}
	return Result{Stdout: stdout.Bytes(), Stderr: stderr.Bytes(), ExitCode: code}, nil
}
