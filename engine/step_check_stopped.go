package engine

import (
	"context"
)

// runCheckStopped (step check-stopped) verifies a service to start is
// stopped; one that already runs ends the run with nothing to do.
func runCheckStopped(ctx context.Context, r *execution, c stepCall) (string, error) {
	st, err := c.mgr.Status(ctx, c.conn)
	if err != nil {
		return "", err
	}
	if st.Running {
		r.out.Unchanged = "already running"
		return "already running", errNothingToDo
	}
	return st.Status, nil
}

func describeCheckStopped(d describing) string {
	return "verify " + d.svc.Name + " is stopped; if it is running there is nothing to do"
}
