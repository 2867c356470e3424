package engine

import (
	"context"
	"errors"
	"strings"

	"github.com/omni-fleet/omni/engine/manager"
)

// Words is an error's text for a person: Go's raw context errors, which
// libraries pass up as they are, are said in words ("context canceled"
// is "interrupted", "context deadline exceeded" is "timed out"). The
// error itself is unchanged: exit codes still come from its type
// (Classify).
func Words(err error) string {
	if err == nil {
		return ""
	}
	msg := strings.NewReplacer(
		context.Canceled.Error(), "interrupted",
		context.DeadlineExceeded.Error(), "timed out",
	).Replace(err.Error())
	for _, twice := range []string{"interrupted: interrupted", "timed out: timed out"} {
		msg = strings.ReplaceAll(msg, twice, twice[:strings.Index(twice, ":")])
	}
	return msg
}

// Failure says what went wrong without repeating the host and service a
// line already names: "health: http: GET ...: status 503, want 200".
func Failure(err error) string {
	var step *StepError
	if errors.As(err, &step) {
		return string(step.Step) + ": " + Words(step.Err)
	}
	return Words(err)
}

// FailureAt is Failure for a line that names the run's target (host,
// service): when the step that failed ran on another instance (a
// dependency it started, a dependent a --cascade stopped or restarted),
// it names that instance first: "web on worker1: health: …". The
// target's own failures read as Failure's.
func FailureAt(err error, host, service string) string {
	return Elsewhere(err, host, service) + Failure(err)
}

// Elsewhere is "web on worker1: " when err is the failure of a step that
// ran on another instance than (host, service), else "".
func Elsewhere(err error, host, service string) string {
	var step *StepError
	if errors.As(err, &step) && (step.Host != host || step.Service != service) {
		return step.Service + " on " + step.Host + ": "
	}
	return ""
}

// LogTail returns the service's log tail a failure carries (a failed
// start, or a failed health check right after a start), or nil.
func LogTail(err error) *manager.LogTail {
	var le *manager.LogError
	if errors.As(err, &le) && !le.Tail.Empty() {
		return &le.Tail
	}
	return nil
}

// TailFields are the log tail's fields of a step or an event: the
// reason, the lines, and why they could not be read.
func TailFields(err error) (reason string, lines []string, tailErr string) {
	if t := LogTail(err); t != nil {
		return t.Reason, t.Lines, t.Err
	}
	return "", nil, ""
}
