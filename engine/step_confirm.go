package engine

import (
	"context"
	"errors"
)

// RefusedError is a run the operator (or the lack of a terminal) did not
// agree to; nothing was changed.
type RefusedError struct{ Err error }

func (e *RefusedError) Error() string { return e.Err.Error() }
func (e *RefusedError) Unwrap() error { return e.Err }

// runConfirm (step confirm) finds the running dependents and asks, through Env.Confirm, when
// the stop needs agreement.
func runConfirm(ctx context.Context, r *execution, _ stepCall) (string, error) {
	// A stop of a service already at rest changes nothing: no question.
	if r.plan.Request.Action == "stop" {
		if st, err := r.status(ctx, r.target); err == nil && atRest(st) {
			r.out.Unchanged = "already stopped"
			return "already stopped", errNothingToDo
		}
	}
	c := Confirmation{Cascade: r.plan.Request.Cascade}
	if r.plan.Confirm != nil {
		c.Reason, c.Impact = r.plan.Confirm.Reason, r.plan.Confirm.Impact
	}
	for _, d := range r.plan.Dependents {
		st, err := r.status(ctx, d)
		switch {
		case err != nil:
			c.Unknown = append(c.Unknown, d)
			c.UnknownErrs = append(c.UnknownErrs, err)
		case st.Running:
			c.Running = append(c.Running, d)
		}
	}
	if c.Reason == "" && c.Impact == "" && len(c.Running) == 0 && len(c.Unknown) == 0 {
		return "nothing to confirm", nil
	}
	if r.env.Confirm == nil {
		return "", &RefusedError{errors.New("confirmation needed and no way to ask")}
	}
	if err := r.env.Confirm(ctx, c); err != nil {
		return "", &RefusedError{err}
	}
	return "confirmed", nil
}
