package engine

import (
	"context"
	"errors"
	"strings"
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
	// One host's stop (a fleet's impact is worked out once for all its
	// hosts, before the run: reading every other host from each plan
	// would cost a fleet of n hosts n² reads).
	if r.plan.Request.Action == "stop" && r.env.shared == nil {
		for _, d := range r.lastOnRole(ctx) {
			if st, err := r.status(ctx, d); err == nil && st.Running {
				c.LosesLast = append(c.LosesLast, d)
			}
		}
	}
	if c.Reason == "" && c.Impact == "" && len(c.Running) == 0 && len(c.Unknown) == 0 && len(c.LosesLast) == 0 {
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

// lastOnRole is the dependents a stop of the target takes their
// requirement away from only because the other instances it could be
// met by are down now: those that need the target's service on a role
// ("storage-agent@worker"), when no other instance of it on that role runs
// and is healthy, and whatever depends on them in turn. The plan's
// Dependents, worked out from the inventory alone, count such a
// requirement lost only when every instance on the role is stopped
// together; they are left out here.
func (r *execution) lastOnRole(ctx context.Context) []Instance {
	g := r.deps
	var down []Instance // the other instances found down
	seen := map[Instance]bool{r.target: true}
	for _, key := range g.neededOnRole(r.target) { // each requirement once: each instance read once
		svc, role, _ := strings.Cut(key, "@")
		var off []Instance
		served := false
		for _, inst := range g.roleInstances(svc, role) {
			if inst == r.target {
				continue
			}
			if r.env.shared != nil && r.env.shared.targets[inst] {
				served = true // another target of the fleet run: see sharedWork.targets
				break
			}
			if st, err := r.check.runningAndHealthy(ctx, inst); err == nil && st.healthy() {
				served = true // met by another: not lost
				break
			}
			off = append(off, inst)
		}
		if served {
			continue
		}
		for _, inst := range off {
			if !seen[inst] {
				seen[inst] = true
				down = append(down, inst)
			}
		}
	}
	if len(down) == 0 {
		return nil
	}
	static := map[Instance]bool{}
	for _, d := range r.plan.Dependents {
		static[d] = true
	}
	var out []Instance
	for _, d := range g.dependentClosure(append([]Instance{r.target}, down...)...) {
		if !static[d] && !seen[d] {
			out = append(out, d)
		}
	}
	return out
}
