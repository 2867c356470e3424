//go:build unix

package engine

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"syscall"
	"time"
)

// runLocal runs a hook's script with `sh -c` on the machine running omni,
// in a process group of its own: when ctx ends, the whole group is killed.
// It returns the exit status and the output.
func runLocal(ctx context.Context, script string) (int, []byte, error) {
	out := newTailBuffer(hookOutputKeep)
	cmd := exec.Command("sh", "-c", script)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	// A process that left the group but holds the output open does not
	// hold the hook.
	cmd.WaitDelay = 2 * time.Second
	if err := cmd.Start(); err != nil {
		return -1, nil, fmt.Errorf("local hook: %w", err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		var exit *exec.ExitError
		if err == nil || errors.As(err, &exit) || errors.Is(err, exec.ErrWaitDelay) {
			return cmd.ProcessState.ExitCode(), out.Bytes(), nil
		}
		return -1, out.Bytes(), fmt.Errorf("local hook: %w", err)
	case <-ctx.Done():
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
		return -1, out.Bytes(), fmt.Errorf("local hook: %w", ctx.Err())
	}
}
