package engine

import (
	"context"
	"fmt"
)

// runVerifyStopped (step verify-stopped) verifies the process is gone; a
// stop that has just seen it go says so without asking the host again.
func runVerifyStopped(ctx context.Context, _ *execution, c stepCall) (string, error) {
	if st, ok := knownState(c.known, c.inst); ok && !st.Running {
		return "stopped (verified by the stop step: the process is gone)", nil
	}
	st, err := c.mgr.Status(ctx, c.conn)
	if err != nil {
		return "", err
	}
	if st.Running {
		return "", fmt.Errorf("still running (pid %d)", st.PID)
	}
	return st.Status, nil
}

func describeVerifyStopped(describing) string {
	return "the process is gone (a zombie counts as stopped)"
}
