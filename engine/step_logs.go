package engine

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/omni-fleet/omni/engine/manager"
	"github.com/omni-fleet/omni/internal/plural"
)

// runLogs (step logs) prints the service's logs; with --follow it runs
// until Ctrl-C, which ends it cleanly. A logs command that ends by itself
// (status 0) under --follow does not follow: the step succeeds with a
// warning that says so (notFollowing). A failed write of the logs (a
// closed pipe, a full disk) ends the command at once, and the step fails
// with the transport's *OutputError.
func runLogs(ctx context.Context, r *execution, c stepCall) (string, error) {
	req := r.plan.Request
	if req.Follow {
		ctx = unbounded(ctx) // until Ctrl-C
	}
	cmd := c.mgr.LogsCommand(req.Lines, req.Follow)
	stderr := &headKeeper{w: r.env.Stderr}
	code, err := c.conn.Stream(ctx, cmd, r.env.Stdout, stderr)
	if err != nil {
		if req.Follow && errors.Is(err, context.Canceled) {
			return "stopped following", nil // Ctrl-C ends a follow cleanly
		}
		return "", err
	}
	if code != 0 {
		if err := manager.SudoRefused(cmd, stderr.head); err != nil {
			return "", err // the logs command never ran
		}
		return "", fmt.Errorf("logs command exited with status %d", code)
	}
	if req.Follow {
		return "", &stepWarning{msg: notFollowing}
	}
	return "", nil
}

// notFollowing is the warning of a logs step whose logs command ended by
// itself, with status 0, under --follow.
const notFollowing = "the logs command ended under --follow: it does not follow (see OMNI_FOLLOW in docs/inventory.md)"

// stderrHead is how much of the start of a logs command's stderr runLogs
// keeps, to read sudo's refusal in: sudo says it first, and alone.
const stderrHead = 512

// headKeeper passes a stream on to w (nil: discarded) and keeps its first
// stderrHead bytes.
type headKeeper struct {
	w    io.Writer
	head []byte
}

func (h *headKeeper) Write(p []byte) (int, error) {
	if room := stderrHead - len(h.head); room > 0 {
		h.head = append(h.head, p[:min(room, len(p))]...)
	}
	if h.w == nil {
		return len(p), nil
	}
	return h.w.Write(p)
}

func describeLogs(d describing) string {
	detail := "last " + plural.N(d.req.Lines, "line", "lines")
	if d.req.Follow {
		detail += ", then follow"
	}
	return detail
}
