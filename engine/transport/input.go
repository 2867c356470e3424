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
// cancellation are as for Run, except that the Result returned with an
// error holds what the command printed before it (ExitCode -1).
func (c *Client) RunInput(ctx context.Context, cmd string, stdin []byte) (Result, error) {
	var stdout, stderr boundedBuffer
	out := &guardedWriters{}
	code, err := c.exec(ctx, cmd, bytes.NewReader(stdin), out.writer(&stdout), out.writer(&stderr))
	out.stop() // the buffers are ours alone from here
	if err != nil {
		// What the command printed before it was interrupted or lost: a
		// command that reports its progress (config.Apply's records of
		// the files it renamed into place) tells its caller what it did.
		return Result{Stdout: stdout.Bytes(), Stderr: stderr.Bytes(), ExitCode: -1}, err
	}
	if stdout.overflow || stderr.overflow {
		return Result{ExitCode: -1}, outputOverflow(c.name)
	}
	return Result{Stdout: stdout.Bytes(), Stderr: stderr.Bytes(), ExitCode: code}, nil
}
