package cli

import (
	"errors"
	"fmt"
	"io"

	"github.com/omni-fleet/omni/engine"
	"github.com/omni-fleet/omni/engine/manager"
	"github.com/omni-fleet/omni/internal/plural"
	"github.com/omni-fleet/omni/registry"
)

// logTail returns the service's log tail a failure carries (a failed
// start, or a failed health check right after a start), or nil.
func logTail(err error) *manager.LogTail {
	var le *manager.LogError
	if errors.As(err, &le) && !le.Tail.Empty() {
		return &le.Tail
	}
	return nil
}

// writeLogTail prints a failure's log tail indented under its ✗ line:
//
//	Log (journalctl -u nginx.service since the start, last 3 lines):
//	  nginx: [emerg] unknown directive "bogus" in /etc/nginx/nginx.conf:3
func writeLogTail(w io.Writer, err error) {
	t := logTail(err)
	if t == nil {
		return
	}
	if t.Err != "" {
		fmt.Fprintf(w, "  Log (%s): could not be read: %s\n", t.Source, t.Err)
		return
	}
	fmt.Fprintf(w, "  Log (%s, last %s):\n", t.Source, plural.N(len(t.Lines), "line", "lines"))
	for _, line := range t.Lines {
		fmt.Fprintf(w, "    %s\n", line)
	}
}

// shortFailure is a failure in a few words, for a table cell: the step
// and the service's own last words when its log tail has them ("start:
// nginx: [emerg] unknown directive …"), else what failure says.
func shortFailure(err error) string {
	if err == nil {
		return ""
	}
	if t := logTail(err); t != nil && t.Reason != "" {
		return stepName(err) + t.Reason
	}
	return failure(err)
}

// stepName is "STEP: " for a step's error, else "".
func stepName(err error) string {
	var step *engine.StepError
	if errors.As(err, &step) {
		return string(step.Step) + ": "
	}
	return ""
}

// tailFields are the log tail's fields of a step or an event: the
// reason, the lines, and why they could not be read.
func tailFields(err error) (reason string, lines []string, tailErr string) {
	if t := logTail(err); t != nil {
		return t.Reason, t.Lines, t.Err
	}
	return "", nil, ""
}

// historyError is an event's failure for the history table: the failed
// step and the service's own last words when its log tail had them, else
// the error as recorded.
func historyError(e registry.Event) string {
	for _, st := range e.Steps {
		if st.Result == "failed" && st.Reason != "" {
			return st.Step + ": " + st.Reason
		}
	}
	return e.Error
}
