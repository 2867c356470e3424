package manager

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// parseReport reads the key=value lines a script printed. Lines without
// "=" are skipped; the last value of a key wins; blanks around keys and
// values are dropped.
func parseReport(out []byte) map[string]string {
	kv := map[string]string{}
	for k, v := range keyValues(out) {
		kv[strings.TrimSpace(k)] = strings.TrimSpace(v)
	}
	return kv
}

// maxPID is the largest PID Linux can hand out (the upper limit of
// kernel.pid_max, 2^22).
const maxPID = 4194304

// parsePID reads a report's non-empty pid= value: the PID; -1 for a
// number that cannot be a PID (above maxPID), which is no PID, as findPID
// has it, so that Go never fails on what the shell accepted; an error for
// anything else.
func parsePID(s string) (int, error) {
	if s == "" || strings.Trim(s, "0123456789") != "" {
		return 0, fmt.Errorf("bad pid=%q", s)
	}
	if len(strings.TrimLeft(s, "0")) > len(strconv.Itoa(maxPID)) {
		return -1, nil
	}
	pid, err := strconv.Atoi(s)
	if err != nil {
		return 0, fmt.Errorf("bad pid=%q", s)
	}
	if pid > maxPID {
		return -1, nil
	}
	return pid, nil
}

// statusReport is what statusScript printed.
type statusReport struct {
	rc     int           // exit code of the status command
	pid    int           // PID it printed, 0 when none
	zero   bool          // it printed PID 0: no process (not running)
	etimes int           // seconds since the PID started, -1 when unknown
	stat   string        // ps state of the PID, "" when it does not exist
	took   time.Duration // how long the status command ran on the host
}

func parseStatusReport(out []byte) (statusReport, error) {
	kv := parseReport(out)
	rcText, ok := kv["rc"]
	if !ok {
		return statusReport{}, errors.New("no rc= line in the status script's output")
	}
	rep := statusReport{etimes: -1, stat: kv["stat"]}
	var err error
	if rep.rc, err = strconv.Atoi(rcText); err != nil {
		return statusReport{}, fmt.Errorf("bad rc=%q", rcText)
	}
	if p := kv["pid"]; p != "" {
		pid, err := parsePID(p)
		if err != nil {
			return statusReport{}, err
		}
		rep.zero = pid == 0
		rep.pid = max(pid, 0)
	}
	if cs, err := strconv.Atoi(kv["took_cs"]); err == nil && cs > 0 {
		rep.took = time.Duration(cs) * 10 * time.Millisecond
	}
	if e := kv["etimes"]; e != "" {
		if rep.etimes, err = strconv.Atoi(e); err != nil || rep.etimes < 0 {
			return statusReport{}, fmt.Errorf("bad etimes=%q", e)
		}
	}
	return rep, nil
}

// notInstalled is the command manager's "unit not installed": the status
// command could not be run at all, because the shell did not find it
// (exit 127) or could not execute it (exit 126). That is not a stopped
// service, and the host answered: an error naming the command's failure.
func (rep statusReport) notInstalled(stderr []byte) error {
	return statusCannotRun(rep.rc, stderr)
}

// statusCannotRun is the error of a status command that exited rc, when
// rc says that it could not run at all (126, 127), else nil; stderr is
// its output on stderr.
func statusCannotRun(rc int, stderr []byte) error {
	var what string
	switch rc {
	case 127:
		what = "not found"
	case 126:
		what = "not executable"
	default:
		return nil
	}
	msg := fmt.Sprintf("the status command could not run on this host (exit %d: %s)", rc, what)
	if text := outputText(stderr); text != "" {
		msg += ": " + text
	}
	return errors.New(msg + "; is the service installed? check its commands.status in the inventory")
}

// processAlive reports whether a ps state is a live process: listed, and
// neither a zombie (Z: exited, waiting for its parent) nor dead (X).
func processAlive(stat string) bool {
	return stat != "" && stat[0] != 'Z' && stat[0] != 'X'
}

// state says the service runs when the status command exited 0 and, if it
// named a PID, that process is alive; PID 0 names none: not running. Since is now minus the process's age
// (the host's clock is not involved).
func (rep statusReport) state(now time.Time) State {
	running := rep.rc == 0 && !rep.zero && (rep.pid == 0 || processAlive(rep.stat))
	if !running {
		return State{Status: "stopped", Took: rep.took}
	}
	st := State{Running: true, Status: "running", PID: rep.pid, Took: rep.took}
	if rep.pid != 0 && rep.etimes >= 0 {
		st.Since = now.Add(-time.Duration(rep.etimes) * time.Second).Truncate(time.Second)
	}
	return st
}

// stopReport is what stopScript printed.
type stopReport struct {
	pid      int
	result   string
	statusRC int // exit code of the status command, -1 when not said
	stopRC   int // exit code of the stop command, -1 when none ran
	// stopKilled: the stop command still ran at the end of the grace
	// period, and was killed with what it started.
	stopKilled bool
}

func parseStopReport(out []byte) (stopReport, error) {
	kv := parseReport(out)
	rep := stopReport{result: kv["result"], statusRC: -1, stopRC: -1, stopKilled: kv["stop_killed"] == "1"}
	if rep.result == "" {
		return stopReport{}, errors.New("no result= line in the stop script's output")
	}
	var err error
	if p := kv["pid"]; p != "" {
		pid, err := parsePID(p)
		if err != nil {
			return stopReport{}, err
		}
		rep.pid = max(pid, 0)
	}
	if s, ok := kv["rc"]; ok {
		if rep.statusRC, err = strconv.Atoi(s); err != nil {
			return stopReport{}, fmt.Errorf("bad rc=%q", s)
		}
	}
	if s, ok := kv["stop_rc"]; ok {
		if rep.stopRC, err = strconv.Atoi(s); err != nil {
			return stopReport{}, fmt.Errorf("bad stop_rc=%q", s)
		}
	}
	return rep, nil
}

// err is nil when the service ended up stopped gracefully,
// ErrWasNotRunning when it was already, a *StoppedAnyway when it ended up stopped otherwise (killed,
// or its stop command failed), else it says what failed; res carries the
// stderr of the stop command and of kill.
func (rep stopReport) err(grace time.Duration, res Result) error {
	var failed string
	if rep.stopKilled {
		failed = fmt.Sprintf(" (the stop command had not ended after the %s grace period: killed)", grace)
	} else if rep.stopRC > 0 {
		failed = fmt.Sprintf(" (stop command exit %d", rep.stopRC)
		if msg := outputText(res.Stderr); msg != "" {
			failed += ": " + msg
		}
		failed += ")"
	}
	switch rep.result {
	case "not-running":
		return ErrWasNotRunning
	case "stopped", "killed":
		var said []string
		if rep.result == "killed" {
			said = append(said, fmt.Sprintf("killed with SIGKILL after the %s grace period", grace))
		}
		if rep.stopKilled {
			said = append(said, fmt.Sprintf("its stop command had not ended after the %s grace period and was killed", grace))
		} else if rep.stopRC > 0 {
			cmdFailed := fmt.Sprintf("its stop command failed (exit %d", rep.stopRC)
			if msg := outputText(res.Stderr); msg != "" {
				cmdFailed += ": " + msg
			}
			said = append(said, cmdFailed+")")
		}
		if len(said) == 0 {
			return nil
		}
		return &StoppedAnyway{Note: strings.Join(said, "; ")}
	case "still-running":
		if rep.pid == 0 {
			return fmt.Errorf("still running %s after the stop command%s; no PID to SIGKILL", grace, failed)
		}
		return fmt.Errorf("still running after SIGKILL (pid %d)%s", rep.pid, failed)
	case "no-pid":
		return errors.New("stop: the status command says running but printed no PID, and there is no stop command")
	case "cannot-run":
		// Nothing was signalled. When the stop command ran (the status
		// command stopped being able to run while omni watched it),
		// stderr is mostly the stop command's, not the status command's.
		if rep.stopRC >= 0 || rep.stopKilled {
			err := statusCannotRun(rep.statusRC, nil)
			if err == nil {
				err = fmt.Errorf("the status command could not run (exit %d)", rep.statusRC)
			}
			return fmt.Errorf("after the stop command%s: %w", failed, err)
		}
		if err := statusCannotRun(rep.statusRC, res.Stderr); err != nil {
			return err
		}
		return fmt.Errorf("the status command could not run (exit %d)", rep.statusRC)
	case "term-failed":
		if msg := outputText(res.Stderr); msg != "" {
			return fmt.Errorf("kill -TERM %d failed: %s", rep.pid, msg)
		}
		return fmt.Errorf("kill -TERM %d failed", rep.pid)
	default:
		return fmt.Errorf("unknown result %q from the stop script", rep.result)
	}
}
