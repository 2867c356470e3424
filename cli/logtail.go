package cli

import (
	"errors"
	"fmt"
	"io"

	"github.com/omni-fleet/omni/engine"
	"github.com/omni-fleet/omni/internal/plural"
	"github.com/omni-fleet/omni/registry"
)

// writeLogTail prints a failure's log tail indented under its ✗ line:
//
//	Log (journalctl -u nginx.service since the start, last 3 lines):
//	  nginx: [emerg] unknown directive "bogus" in /etc/nginx/nginx.conf:3
func writeLogTail(w io.Writer, err error) {
	t := engine.LogTail(err)
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
// nginx: [emerg] unknown directive …"), else what failure says; the
// instance first when the step ran on another than the row's (host,
// service), as engine.FailureAt.
func shortFailure(err error, host, service string) string {
	if err == nil {
		return ""
	}
	if t := engine.LogTail(err); t != nil && t.Reason != "" {
		return engine.Elsewhere(err, host, service) + stepName(err) + t.Reason
	}
	return engine.FailureAt(err, host, service)
}

// minReadyFailed reports whether err is a host's failed --min-ready
// watch (engine.MinReadyError): its health is shown failed.
func minReadyFailed(err error) bool {
	var notReady *engine.MinReadyError
	return errors.As(err, &notReady)
}

// stepName is "STEP: " for a step's error, else "".
func stepName(err error) string {
	var step *engine.StepError
	if errors.As(err, &step) {
		return string(step.Step) + ": "
	}
	return ""
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
