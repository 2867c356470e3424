package lab

import "fmt"

// UsageError is a request that makes no sense (a bad flag value, a missing
// inventory): the cli exits 2.
type UsageError struct{ Msg string }

func (e *UsageError) Error() string { return e.Msg }

// RunningError is `lab up` refused because a lab already runs in the
// directory, or another lab command is busy with it: the cli exits 5.
type RunningError struct {
	Dir string
	PID int // of the running serve process; 0 when another command holds the lab
}

func (e *RunningError) Error() string {
	if e.PID == 0 {
		return fmt.Sprintf("another omni lab command is working on the lab in %s; wait for it to finish", e.Dir)
	}
	return fmt.Sprintf("a lab is already running in %s (serve pid %d): run `omni lab down%s` first, or pass another --dir",
		e.Dir, e.PID, dirFlag(e.Dir))
}

// dirFlag is " --dir DIR" when DIR is not the default lab directory.
func dirFlag(dir string) string {
	if def, err := absDir(""); err == nil && def == dir {
		return ""
	}
	return " --dir " + quoteArg(dir)
}
