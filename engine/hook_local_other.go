//go:build !unix

package engine

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"time"
)

// runLocal runs a hook's script with `sh -c` on the machine running omni;
// without process groups, only the shell is killed when ctx ends.
func runLocal(ctx context.Context, script string) (int, []byte, error) {
	out := newTailBuffer(hookOutputKeep)
	cmd := exec.CommandContext(ctx, "sh", "-c", script)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.WaitDelay = 2 * time.Second
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case ctx.Err() != nil:
		return -1, nil, fmt.Errorf("local hook: %w", ctx.Err())
	case err == nil || errors.As(err, &exit):
		return cmd.ProcessState.ExitCode(), out.Bytes(), nil
	}
	return -1, out.Bytes(), fmt.Errorf("local hook: %w", err)
}
