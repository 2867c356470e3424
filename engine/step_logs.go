package engine

import (
	"context"
	"errors"
	"fmt"

	"github.com/omni-fleet/omni/internal/plural"
)

// runLogs (step logs) prints the service's logs; with --follow it runs
// until Ctrl-C, which ends it cleanly.
func runLogs(ctx context.Context, r *execution, c stepCall) (string, error) {
	req := r.plan.Request
	if req.Follow {
		ctx = unbounded(ctx) // until Ctrl-C
	}
	code, err := c.conn.Stream(ctx, c.mgr.LogsCommand(req.Lines, req.Follow), r.env.Stdout, r.env.Stderr)
	if err != nil {
		if req.Follow && errors.Is(err, context.Canceled) {
			return "stopped following", nil // Ctrl-C ends a follow cleanly
		}
		return "", err
	}
	if code != 0 {
		return "", fmt.Errorf("logs command exited with status %d", code)
	}
	return "", nil
}

func describeLogs(d describing) string {
	detail := "last " + plural.N(d.req.Lines, "line", "lines")
	if d.req.Follow {
		detail += ", then follow"
	}
	return detail
}
