package playbooks

import (
	"fmt"
	"strings"
)

// SafetySteps are the steps an override may move and time but never drop:
// the confirmation, the dependency check and the registry record. Which of
// them a playbook must have is what its built-in has (see required).
var SafetySteps = []string{"confirm", "check-deps", "record"}

// changing are the steps that change a service; a confirmation or a
// dependency check after one of them would come too late.
var changing = map[string]bool{"stop": true, "start": true}

// required returns the safety steps of the built-in playbook: those an
// override of it must keep.
func required(builtin *Playbook) []string {
	var names []string
	for _, st := range builtin.Steps {
		for _, s := range SafetySteps {
			if st.Name == s {
				names = append(names, s)
			}
		}
	}
	return names
}

// checkSafety enforces what an override may not change: every safety step
// of the built-in is present, confirm and check-deps come before the first
// step that changes the service, and record is the last step. Errors carry
// FILE:LINE.
func checkSafety(pb *Playbook, must []string) error {
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
	first := -1 // the first step that changes the service
	for i, st := range pb.Steps {
		if changing[st.Name] {
			first = i
			break
		}
	}
	for _, s := range []string{"confirm", "check-deps"} {
		i, ok := at[s]
		if ok && first >= 0 && i > first {
			ch := pb.Steps[first]
			return fmt.Errorf("%s:%d: step %q must come before %q (line %d): it must decide before anything changes",
				pb.Source, pb.Steps[i].Line, s, ch.Name, ch.Line)
		}
	}
	if i, ok := at["record"]; ok && i != len(pb.Steps)-1 {
		last := pb.Steps[len(pb.Steps)-1]
		return fmt.Errorf("%s:%d: step \"record\" must be the last step (%q follows it at line %d): the registry records the final state",
			pb.Source, pb.Steps[i].Line, last.Name, last.Line)
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
