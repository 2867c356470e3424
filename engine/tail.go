package engine

import (
	"context"
	"errors"
	"time"

	"github.com/omni-fleet/omni/engine/health"
	"github.com/omni-fleet/omni/engine/manager"
)

// maxTailTimeout bounds the read of a failed service's log tail (and the
// inventory's command_timeout, when shorter, bounds it instead): the
// failure is already known, the tail only explains it.
const maxTailTimeout = 10 * time.Second

// withTail returns err carrying the service's log tail (a
// *manager.LogError): the last lines of its log, read over conn, which say
// why a start or the health check after it failed. An error that already
// carries one (systemd reads it in the start's own round trip) is
// returned as it is, and so is err after an interrupt (Ctrl-C: no more
// remote commands). Reading the tail has a deadline of its own, so a
// step that timed out still gets it.
func (r *execution) withTail(inst Instance, m manager.Manager, conn Conn, err error) error {
	var le *manager.LogError
	if err == nil || errors.As(err, &le) || r.ctx.Err() != nil {
		return err
	}
	tailer, ok := m.(manager.Tailer)
	if !ok || conn == nil {
		return err
	}
	ctx, cancel := context.WithTimeout(r.ctx, min(maxTailTimeout, commandTimeout(r.env.Inventory)))
	defer cancel()
	tail := tailer.LogTail(ownBound(ctx), conn)
	if tail.Empty() {
		return err
	}
	return &manager.LogError{Err: err, Tail: tail}
}

// endStart ends on the host the start that err cut short (its timeout, an
// interrupt), sent at sent, when m's starts go on without omni
// (manager.StartEnder: systemd's start job): a *startEnded saying what was
// done, carrying the log tail of that start (read before it was ended, so
// that the stop's own lines are not shown as the start's). It runs on a
// bound of its own, command_timeout, also after an interrupt: the start
// must not come up behind omni's back. Other managers' starts were killed
// with their command: err as it is.
func (r *execution) endStart(m manager.Manager, conn Conn, sent time.Time, err error) error {
	ender, ok := m.(manager.StartEnder)
	if !ok || conn == nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.ctx), commandTimeout(r.env.Inventory))
	defer cancel()
	// The host's clock less how long ago the start was sent: real time,
	// whatever clock the run is given (env.Now).
	note, tail := ender.EndStart(ownBound(ctx), conn, time.Since(sent))
	return &manager.LogError{Err: &startEnded{Err: err, Note: note}, Tail: tail}
}

// startEnded is a start cut short that omni then ended on the host (see
// endStart): "timed out after 2s; the start was stopped (systemctl stop)".
type startEnded struct {
	Err  error
	Note string
}

func (e *startEnded) Error() string { return e.Err.Error() + "; " + e.Note }
func (e *startEnded) Unwrap() error { return e.Err }

// keepEnded returns next saying, as err did, how a start cut short was
// ended (see endStart), if it was.
func keepEnded(err, next error) error {
	var ended *startEnded
	if errors.As(err, &ended) {
		return &startEnded{Err: next, Note: ended.Note}
	}
	return next
}

// keepTail returns next carrying the log tail err carried, if any.
func keepTail(err, next error) error {
	var le *manager.LogError
	if errors.As(err, &le) {
		return &manager.LogError{Err: next, Tail: le.Tail}
	}
	return next
}

// healthTail keeps the log tail of a failed health check, but its Reason
// only when the service does not run (died: it died right after its
// start). A service that runs but answers badly (HTTP 503) is explained
// by the check's own error first; the last line of its log need not say
// why, and is only context.
func healthTail(died bool, err error) error {
	var le *manager.LogError
	if died || !errors.As(err, &le) {
		return err
	}
	le.Tail.Reason = ""
	return err
}

// diedAfterStart reports whether a service this run started, whose health
// check failed, no longer runs: its process check failed, or it passed
// and the service died since (a port that refuses, then a state read that
// finds it stopped: one command more, on this failure's path only).
func (r *execution) diedAfterStart(m manager.Manager, conn Conn, report health.Report) bool {
	for _, ch := range report.Checks {
		if ch.Check == "process" && !ch.Passed {
			return true
		}
	}
	if m == nil || conn == nil || r.ctx.Err() != nil {
		return false
	}
	ctx, cancel := context.WithTimeout(r.ctx, commandTimeout(r.env.Inventory))
	defer cancel()
	st, err := m.Status(ownBound(ctx), conn)
	return err == nil && !st.Running
}
