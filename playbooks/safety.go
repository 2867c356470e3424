package playbooks

import (
	"fmt"
	"strings"
)

// required returns the safety steps of the built-in playbook, in its
// order: those an override of it must keep. A safety step is one the
// vocabulary marks DecideFirst or Last (confirm, check-deps, record).
func required(builtin *Playbook, vocab Vocabulary) []string {
	var names []string
	for _, st := range builtin.Steps {
		if r, ok := vocab.rule(st.Name); ok && r.safety() {
			names = append(names, st.Name)
		}
	}
	return names
}

// checkSafety enforces what an override may not change: every safety step
// of the built-in is present, the DecideFirst steps (confirm, check-deps)
// come before the first step that Changes the service, and a Last step
// (record) is the last step. Errors carry FILE:LINE.
func checkSafety(pb *Playbook, must []string, vocab Vocabulary) error {
	at := map[string]int{}
	for i, st := range pb.Steps {
		at[st.Name] = i
	}
	var missing []string
	for _, s := range must {
		if _, ok := at[s]; !ok {
			missing = append(missing, s)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%s:%d: the %s playbook has no %s step: an override may reorder steps and change their timeouts, but not drop a safety step (the built-in %s has %s)",
			pb.Source, pb.StepsLine, pb.Name, quoteJoin(missing), pb.Name, strings.Join(must, ", "))
	}
	// What a step needs wherever it is: a stop that nothing starts again
	// asks first, whether the file is stop.yaml or logs.yaml.
	for i, st := range pb.Steps {
		r, _ := vocab.rule(st.Name)
		for _, n := range r.Needs {
			if _, ok := at[n]; !ok {
				return fmt.Errorf("%s:%d: step %q needs a %q step in the same playbook, whichever playbook it is in",
					pb.Source, st.Line, st.Name, n)
			}
		}
		if len(r.NeedsUnless) == 0 {
			continue
		}
		if j, ok := at[r.Unless]; ok && j > i {
			continue
		}
		for _, n := range r.NeedsUnless {
			if _, ok := at[n]; !ok {
				return fmt.Errorf("%s:%d: step %q needs a %q step in the same playbook, since no %q follows it (the service stays down)",
					pb.Source, st.Line, st.Name, n, r.Unless)
			}
		}
	}
	first := -1 // the first step that changes the service
	for i, st := range pb.Steps {
		if r, _ := vocab.rule(st.Name); r.Changes {
			first = i
			break
		}
	}
	for _, r := range vocab {
		if !r.DecideFirst {
			continue
		}
		s := r.Name
		i, ok := at[s]
		if ok && first >= 0 && i > first {
			ch := pb.Steps[first]
			return fmt.Errorf("%s:%d: step %q must come before %q (line %d): it must decide before anything changes",
				pb.Source, pb.Steps[i].Line, s, ch.Name, ch.Line)
		}
	}
	for _, r := range vocab {
		if i, ok := at[r.Name]; ok && r.Last && i != len(pb.Steps)-1 {
			last := pb.Steps[len(pb.Steps)-1]
			return fmt.Errorf("%s:%d: step %q must be the last step (%q follows it at line %d): the registry records the final state",
				pb.Source, pb.Steps[i].Line, r.Name, last.Name, last.Line)
		}
	}
	return nil
}

func quoteJoin(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = fmt.Sprintf("%q", n)
	}
	return strings.Join(q, " or ")
}
