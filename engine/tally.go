package engine

// Tally counts what became of the parts of a run over several targets:
// the hosts of a fleet run or of fleet logs, the hosts of a config apply
// or diff, the services the lab starts. Its Class is the run's result,
// and so (cli/exitcode.go) its exit code: the one rule of "all, some or
// none" that every command over several targets follows.
type Tally struct {
	// OK counts the parts done (or with nothing to do).
	OK int
	// Failed holds the class of each failure, one entry per failure (a
	// part can fail more than once: a config apply's host, per service).
	Failed []Class
	// Untouched counts the parts the run never acted on.
	Untouched int
	// Interrupted: the run was interrupted (SIGINT/SIGTERM).
	Interrupted bool
}

// Add counts one part by its error: nil is done, else a failure of the
// error's class (Classify).
func (t *Tally) Add(err error) {
	t.AddClass(Classify(err))
}

// AddClass counts one part by its class: ClassOK is done, anything else
// a failure of that class.
func (t *Tally) AddClass(c Class) {
	if c == ClassOK {
		t.OK++
		return
	}
	t.Failed = append(t.Failed, c)
}

// Class is the run's result: interrupted when it was; ok when every part
// is done (or there is none); partial when some are done and others
// failed or were left untouched; when none is done, the class of the
// failures (FailuresClass), or refused when nothing failed either
// (nothing was touched).
func (t *Tally) Class() Class {
	switch {
	case t.Interrupted:
		return ClassInterrupted
	case len(t.Failed) == 0 && t.Untouched == 0:
		return ClassOK
	case t.OK > 0:
		return ClassPartial
	case len(t.Failed) == 0:
		return ClassRefused
	}
	return t.FailuresClass()
}

// FailuresClass is the class of the failures alone: ok when there is
// none; their class when they all have the same one (every host
// unreachable: unreachable; every host refused: refused); failed when
// they differ. A check (`service status`) has no partial: what is wrong
// decides alone.
func (t *Tally) FailuresClass() Class {
	if len(t.Failed) == 0 {
		return ClassOK
	}
	first := t.Failed[0]
	for _, c := range t.Failed[1:] {
		if c != first {
			return ClassFailed
		}
	}
	return first
}
