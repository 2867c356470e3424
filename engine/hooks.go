package engine

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/omni-fleet/omni/engine/config"
	"github.com/omni-fleet/omni/engine/manager"
	"github.com/omni-fleet/omni/internal/plural"
	"github.com/omni-fleet/omni/internal/shell"
	"github.com/omni-fleet/omni/inventory"
)

// The hook steps (pre-stop, post-stop, pre-start, post-start: the files
// step_pre_stop.go, ...) run a
// service's lifecycle hooks (inventory: pre_stop, post_stop, pre_start,
// post_start), one step per kind, each hook in turn with its own timeout.
// The planner puts them around the stop and start of every instance a plan
// stops or starts (plan_hooks.go); a playbook does not name them, so an
// override can neither drop nor move them.
//
// A hook is a shell snippet run with `sh -c` (`sudo -n sh -c` when the
// service or the host it runs on says sudo), on the service's host (on:
// self), on another inventory host over its connection (on: HOST), or on
// the machine running omni (on: local). Exported: OMNI_HOST, OMNI_SERVICE,
// OMNI_ADDRESS (the service's host and address), OMNI_OP (start, stop,
// restart), OMNI_HOOK (pre_stop, ...) and, for post_stop and post_start,
// OMNI_RESULT; every value is shell-quoted. A hook still running at its
// timeout is killed with its process group, and named in the error.

// hookKinds maps each hook step to its inventory key.
var hookKinds = map[StepName]string{
	StepPreStop:   "pre_stop",
	StepPostStop:  "post_stop",
	StepPreStart:  "pre_start",
	StepPostStart: "post_start",
}

// hookMargin is each hook's time beyond its own timeout in its step's
// bound: the kill of its process group and the connection to its host, so
// that hooks which each run out their time (on_failure: warn) still leave
// the last one its whole timeout.
const hookMargin = 5 * time.Second

// hookStepTimeout says the hook steps' bound in words (steps.go).
const hookStepTimeout = "the sum of its hooks' timeouts (each 30s unless set), + 5s per hook"

// hookOutputMax bounds what a failed hook's error quotes of its output.
const hookOutputMax = 400

// hooksTimeout is the default bound of the step of one kind of hooks.
func hooksTimeout(kind string) func(b bounds) time.Duration {
	return func(b bounds) time.Duration {
		if b.svc == nil {
			return 0
		}
		return hooksBound(b.svc.Hooks.Of(kind))
	}
}

func hooksBound(hooks []inventory.Hook) time.Duration {
	if len(hooks) == 0 {
		return 0
	}
	var d time.Duration
	for _, h := range hooks {
		d += h.Timeout + hookMargin
	}
	return d
}

// HookError is a lifecycle hook that failed, timed out or could not be
// run: which one (the instance it belongs to, its kind, its place in the
// list, where it ran and its snippet) and why.
type HookError struct {
	Host, Service string // the instance whose hook it is
	Kind          string // pre_stop, post_stop, pre_start, post_start
	Index         int    // 1-based place in its list
	On            string // where it ran: a host name, or "local"
	Run           string // the snippet
	Err           error  // a *TimeoutError, an exit status, a connection error
	Output        string // the end of what it printed, when it failed
	// Warned: on_failure: warn, so the operation went on: the error says
	// nothing of what a failure would have stopped.
	Warned bool
}

func (e *HookError) Error() string {
	msg := fmt.Sprintf("%s hook %d on %s (%s): %v", e.Kind, e.Index, e.On, snippet(e.Run), e.Err)
	var timeout *TimeoutError
	hung := errors.As(e.Err, &timeout)
	if hung {
		msg += "; killed with its process group"
	}
	switch {
	case e.Output == "":
	case hung:
		msg += "; it last printed: " + e.Output
	default:
		msg += ": " + e.Output
	}
	switch {
	case e.Warned:
	case e.Kind == "pre_stop":
		msg += " (vetoed: the service was not stopped)"
	case e.Kind == "pre_start":
		msg += " (the service was not started)"
	case e.Kind == "post_start":
		msg += " " + postStartCounts
	}
	return msg
}

func (e *HookError) Unwrap() error { return e.Err }

// postStartCounts ends the error of a failed post_start hook.
const postStartCounts = "(a failed post_start counts as a failed health check)"

// stepWarning is what a step returns that succeeded with a warning (a
// hook with on_failure: warn failed): execution.step reports the step ok,
// with the warning (StepResult.Warning).
type stepWarning struct {
	msg string
	// then is what the step returns besides: nil, or errNothingToDo (a
	// step that ends the run early, with a warning).
	then error
}

func (w *stepWarning) Error() string { return w.msg }

// runHookStep runs the instance's hooks of the step's kind; result is
// OMNI_RESULT ("" for a pre hook). The four hook steps, one file each
// (step_pre_stop.go, ...), run through it.
func runHookStep(ctx context.Context, r *execution, c stepCall, result string) (string, error) {
	return r.runHooks(ctx, c.inst, hookKinds[c.task.Step], r.plan.Request.Action, result)
}

// stopResult is OMNI_RESULT of a post_stop hook: "failed" when the
// instance's last stop or verify-stopped step failed, or when its stop
// did not happen (its pre_stop began, then the run ended: finish), else
// "stopped".
func (r *execution) stopResult(inst Instance) string {
	for i := len(r.out.Steps) - 1; i >= 0; i-- {
		s := r.out.Steps[i]
		if r.instance(s.Task) == inst && (s.Task.Step == StepStop || s.Task.Step == StepVerifyStopped) {
			if s.Status != StepOK {
				return "failed"
			}
			return "stopped"
		}
	}
	if r.preStopBegun[inst] {
		return "failed" // no stop of it ran
	}
	return "stopped"
}

// startResult is OMNI_RESULT of a post_start hook: "healthy" once the
// instance's health step passed, "started" when its plan has none.
func (r *execution) startResult(inst Instance) string {
	for i := len(r.out.Steps) - 1; i >= 0; i-- {
		if s := r.out.Steps[i]; r.instance(s.Task) == inst && s.Task.Step == StepHealth && s.Status == StepOK {
			return "healthy"
		}
	}
	return "started"
}

// runHooks runs an instance's hooks of one kind in order. A failed hook
// with on_failure: warn is noted and the next one runs; one with abort (or
// any failure once the run is interrupted) ends the step with its error.
func (r *execution) runHooks(ctx context.Context, inst Instance, kind, op, result string) (string, error) {
	svc, err := r.env.Inventory.Service(inst.Service)
	if err != nil {
		return "", err
	}
	hooks := svc.Hooks.Of(kind)
	var warnings []string
	for i, h := range hooks {
		err := r.runHook(ctx, svc, inst, kind, i, h, op, result)
		if err == nil {
			continue
		}
		if h.OnFailure != inventory.HookWarn || r.ctx.Err() != nil {
			return fmt.Sprintf("%d of %s passed", i-len(warnings), plural.N(len(hooks), "hook", "hooks")), err
		}
		var herr *HookError
		if errors.As(err, &herr) {
			herr.Warned = true
		}
		warnings = append(warnings, err.Error())
	}
	note := plural.N(len(hooks), "hook", "hooks") + " passed"
	if len(warnings) > 0 {
		note = fmt.Sprintf("%d of %s passed", len(hooks)-len(warnings), plural.N(len(hooks), "hook", "hooks"))
		return note, &stepWarning{msg: strings.Join(warnings, "; ") + " (on_failure: warn)"}
	}
	return note, nil
}

// runHook runs one hook within its timeout.
func (r *execution) runHook(ctx context.Context, svc *inventory.Service, inst Instance, kind string, i int, h inventory.Hook, op, result string) error {
	where := h.On
	if where == inventory.HookSelf {
		where = inst.Host
	}
	herr := &HookError{Host: inst.Host, Service: inst.Service, Kind: kind, Index: i + 1, On: where, Run: h.Run}
	host, err := r.env.Inventory.Host(inst.Host)
	if err != nil {
		herr.Err = err
		return herr
	}
	script := hookScript(host, inst, kind, op, result, h.Run)
	hctx, cancel := context.WithTimeout(ctx, h.Timeout)
	defer cancel()
	hctx = ownBound(hctx) // the hook's timeout bounds its command, not command_timeout
	var (
		code int
		out  []byte
	)
	if where == inventory.HookLocal {
		code, out, err = runLocal(hctx, script)
	} else {
		code, out, err = r.runRemoteHook(hctx, svc, where, script)
	}
	switch {
	case err != nil && hctx.Err() == context.DeadlineExceeded && ctx.Err() == nil:
		herr.Err = &TimeoutError{After: h.Timeout}
	case err != nil:
		herr.Err = err
	case code != 0:
		herr.Err = fmt.Errorf("exit status %d", code)
	default:
		return nil
	}
	// The end of what it said: why it failed, or where it hung.
	herr.Output = lastOutput(out)
	return herr
}

// runRemoteHook runs a hook's script on an inventory host, over the run's
// connection to it.
func (r *execution) runRemoteHook(ctx context.Context, svc *inventory.Service, hostName, script string) (int, []byte, error) {
	h, err := r.env.Inventory.Host(hostName)
	if err != nil {
		return -1, nil, err
	}
	conn, err := r.conn(r.ctx, hostName) // the dial has its own bounds
	if err != nil {
		return -1, nil, fmt.Errorf("connecting to %s: %w", hostName, err)
	}
	cmd := "sh -c " + shell.Quote(script)
	if (manager.Target{Host: h, Service: svc}).Sudo() {
		cmd = "sudo -n " + cmd
	}
	// Streamed into a bounded buffer: a hook that prints without end until
	// its timeout costs omni no more than hookOutputKeep.
	out := newTailBuffer(hookOutputKeep)
	code, err := conn.Stream(ctx, cmd, out, out)
	if err != nil {
		return -1, out.Bytes(), err // what it said until then (a hook that hung)
	}
	return code, out.Bytes(), nil
}

// hookScript is the hook's snippet after the line that sets and exports
// its environment, every value shell-quoted.
func hookScript(host *inventory.Host, inst Instance, kind, op, result, run string) string {
	addr := host.ServiceAddress
	if addr == "" {
		addr = inventory.DefaultServiceAddress
	}
	vars := [][2]string{{"OMNI_HOST", inst.Host}, {"OMNI_SERVICE", inst.Service}, {"OMNI_ADDRESS", addr},
		{"OMNI_OP", op}, {"OMNI_HOOK", kind}}
	if strings.HasPrefix(kind, "post_") {
		vars = append(vars, [2]string{"OMNI_RESULT", result})
	}
	var assigns, names []string
	for _, v := range vars {
		assigns = append(assigns, v[0]+"="+shell.Quote(v[1]))
		names = append(names, v[0])
	}
	return strings.Join(assigns, " ") + "; export " + strings.Join(names, " ") + "\n" + run
}

// snippetMax is how many bytes of a hook's first line its snippet keeps.
const snippetMax = 60

// runeStartBefore is the index of the first byte of the character that
// holds s[i] (i itself when a character starts there): where s can be cut
// before i without splitting a character.
func runeStartBefore(s string, i int) int {
	for i > 0 && i < len(s) && !utf8.RuneStart(s[i]) {
		i--
	}
	return i
}

// runeStartAfter is the index of the first character that starts at or
// after i: where s can be cut from i on without splitting a character.
func runeStartAfter(s string, i int) int {
	for i < len(s) && !utf8.RuneStart(s[i]) {
		i++
	}
	return i
}

// lastOutput is the end of a failed hook's output, on one line (each line
// break a space, nothing folded: a secret in it must stay whole for the
// redaction to find it), its control characters replaced (as a log
// tail's are: the output cannot move the operator's cursor or recolour
// the terminal), cut on a character's boundary after a CutMark (where the
// redaction also looks for what is left of a secret).
func lastOutput(out []byte) string {
	s := manager.Printable(strings.TrimSpace(config.OneLine(string(out))))
	if len(s) > hookOutputMax {
		s = config.CutMark + s[runeStartAfter(s, len(s)-hookOutputMax):]
	}
	return s
}

// snippet is a hook's snippet for messages: its first line, shortened.
func snippet(run string) string {
	s, _, more := strings.Cut(strings.TrimSpace(run), "\n")
	if len(s) > snippetMax {
		s, more = s[:runeStartBefore(s, snippetMax)], true
	}
	if more {
		s += " …"
	}
	return s
}
