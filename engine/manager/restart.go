package manager

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/omni-fleet/omni/internal/cutnote"
)

// Restarter is a Manager that runs the parts of a restart that need no
// decision of omni's in between as one remote script, in one round trip:
// the stop (with its wait until the service is gone, and SIGKILL after the
// grace period), the start, and a read of the state right after the start.
// Each part reports its own result and duration; a part runs only when the
// one before it succeeded, as when they ran one after the other.
type Restarter interface {
	Restart(ctx context.Context, r Runner, o RestartOptions) (RestartReport, error)
}

// RestartOptions bound the parts of a restart script.
type RestartOptions struct {
	Grace time.Duration // the stop's grace period, as Stop takes it
	// StartTimeout bounds the start part on the host: when it is over,
	// the start and everything it started are killed (omni_kill_tree) and
	// the part reports StartTimedOut. 0: no bound of its own.
	StartTimeout time.Duration
	ReadState    bool // read the state after a successful start
}

// Part is how one part of a restart script went.
type Part struct {
	Ran      bool
	Err      error         // nil when it ran and succeeded
	Warning  string        // it succeeded with a warning (the start: a *StartWarning's)
	Duration time.Duration // measured on the host, to 10 ms
}

// RestartReport is what a restart script reports, part by part.
type RestartReport struct {
	Stop, Start, Status Part
	// StartTimedOut: the start ran past StartTimeout and was killed.
	StartTimedOut bool
	// NotRunning: the stop part found the service not running (Stop's
	// ErrWasNotRunning): it stopped nothing.
	NotRunning bool
	State      State // read right after the start (Status.Ran, no Status.Err)
}

// restartScript runs the parts, and after each prints a line "MARK end
// NAME RC CS" on stdout and "MARK end NAME" on stderr: what precedes them
// since the last such line is the part's output. RC is its exit code and
// CS how long it took in centiseconds, by the host's uptime clock (the
// wall clock's seconds where there is none). A part's exit code says
// whether the next may run: only 0 goes on.
//
// The start runs in a subshell of its own: it is the user's command. The
// stop and the status read run in subshells too (@STOPPART@,
// @STATUSPART@), or, when the manager wrote them to run as functions of
// this script's own shell (restartParts.inline), as functions: on the
// host, each is then a process fewer (a fork of the shell), which on a
// host short of CPU, or one where forks are dear, shows in every restart.
//
// The start runs in the foreground, as a start alone does: a command in
// the background of a non-interactive shell has SIGINT and SIGQUIT
// ignored, and so would every daemon it starts, for good (a shell cannot
// trap them again, Python loses KeyboardInterrupt). When the start has a
// bound, a watchdog in the background sleeps @START_T@ seconds, then
// prints "MARK start-timeout" and kills the start's process tree
// (omni_kill_start: every child of the script's shell, $$, but the
// watchdog itself; see killTree). Once the start has ended, the script
// ends the watchdog (its trap ends its sleep). A TERM that comes before
// the watchdog knows its sleep's PID (a start that ended at once) is
// noted by a first trap and acted on once it does: a shell runs a trap
// between commands, and before, the TERM would have killed nothing and
// left the sleep behind for the whole start_timeout. The sleep is ended
// with SIGKILL: until it has exec'd, the forked child still has the
// watchdog's trap for TERM (dash), and a TERM would only set its flag.
const restartScript = `omni_mark=@MARK@
` + procReaders + `
` + clock + `
omni_part_end() {
	omni_now
	printf '\n%s end %s %s %s\n' "$omni_mark" "$1" "$2" "$((omni_t - omni_part_t))"
	printf '\n%s end %s\n' "$omni_mark" "$1" >&2
	omni_part_t=$omni_t
}
` + killTree + `
omni_kill_start() {
	omni_me=$(exec sh -c 'echo "$PPID"')
	omni_kids=
	omni_procs omni_start_kid
	for omni_k in $omni_kids; do
		omni_kill_tree "$omni_k"
	done
}
omni_start_kid() {
	[ "$2" = "$$" ] && [ "$1" != "$omni_me" ] && omni_kids="$omni_kids $1"
}
omni_now
omni_part_t=$omni_t
@STOPPART@
omni_rc=$?
omni_part_end stop "$omni_rc"
[ "$omni_rc" -eq 0 ] || exit 0
omni_wd=
if [ @START_CS@ -gt 0 ]; then
	(
		omni_term=
		trap 'omni_term=1' TERM
		sleep @START_T@ </dev/null >/dev/null 2>&1 &
		omni_sl=$!
		trap 'kill -9 "$omni_sl" 2>/dev/null; exit 0' TERM
		if [ -n "$omni_term" ]; then
			kill -9 "$omni_sl" 2>/dev/null
			exit 0
		fi
		wait "$omni_sl" || exit 0
		printf '\n%s start-timeout\n' "$omni_mark"
		omni_kill_start
	) &
	omni_wd=$!
fi
(
@START@
) </dev/null
omni_rc=$?
if [ -n "$omni_wd" ]; then
	kill "$omni_wd" 2>/dev/null
	wait "$omni_wd" 2>/dev/null
fi
omni_part_end start "$omni_rc"
[ "$omni_rc" -eq 0 ] || exit 0
[ @READ@ = 1 ] || exit 0
@STATUSPART@
omni_part_end status "$?"
`

// restartParts are a manager's parts of the restart script (shell text,
// without sudo: the whole script is wrapped once) and how to read each
// part's output.
type restartParts struct {
	stop, start, status string
	// inline: stop and status are written to run as functions of the
	// restart script's shell: they end with `return`, never `exit`, and
	// every command of the user's (and the environment file) runs in a
	// subshell or command substitution of its own. Otherwise each runs in
	// a subshell.
	inline       bool
	stopResult   func(Result) error
	startResult  func(Result) error
	statusResult func(Result) (State, error)
	sudo         bool
}

// runRestart builds the script from p, runs it and reads its parts.
func runRestart(ctx context.Context, r Runner, p restartParts, o RestartOptions) (RestartReport, error) {
	var nonce [12]byte
	if _, err := rand.Read(nonce[:]); err != nil {
		return RestartReport{}, err
	}
	mark := "omni-part-" + hex.EncodeToString(nonce[:])
	read := "0"
	if o.ReadState {
		read = "1"
	}
	cs := steps(o.StartTimeout, 10*time.Millisecond)
	// Our own text first, then the parts, so that theirs is never rescanned.
	script := strings.NewReplacer(
		"@MARK@", mark, "@READ@", read,
		"@START_CS@", strconv.Itoa(cs), "@START_T@", fmt.Sprintf("%d.%02d", cs/100, cs%100),
	).Replace(restartScript)
	stopPart, statusPart := "(\n"+p.stop+"\n)", "(\n"+p.status+"\n)"
	if p.inline {
		stopPart, statusPart = asFunction("omni_part_stop", p.stop), asFunction("omni_part_status", p.status)
	}
	script = strings.NewReplacer("@STOPPART@", stopPart, "@START@", p.start, "@STATUSPART@", statusPart).Replace(script)
	res, err := runEnds(ctx, r, wrap(script, p.sudo, true)) // the parts' reports are found by their marks
	if err != nil {
		return RestartReport{}, err
	}
	return readRestart(res, mark, p)
}

// readRestart splits a restart script's output into its parts and reads
// each with p's readers.
func readRestart(res Result, mark string, p restartParts) (RestartReport, error) {
	var rep RestartReport
	outs, errs := res.Stdout, res.Stderr
	timeoutLine := []byte("\n" + mark + " start-timeout")
	for _, name := range []string{"stop", "start", "status"} {
		out, rc, cs, rest, ok := cutPart(outs, mark, name)
		if !ok {
			break
		}
		stderr, restErr, found := bytes.Cut(errs, []byte("\n"+mark+" end "+name+"\n"))
		if start, end := cutnote.Index(errs); !found && start >= 0 {
			// The part's end on stderr was in the middle of a long
			// output that was not kept: what was kept after the cut
			// came after that end, and is the next parts'.
			stderr, restErr = errs[:end], errs[end:]
		}
		outs, errs = rest, restErr
		part := Result{Stdout: out, Stderr: stderr, ExitCode: rc}
		got := Part{Ran: true, Duration: time.Duration(cs) * 10 * time.Millisecond}
		switch name {
		case "stop":
			got.Err = p.stopResult(part)
			if errors.Is(got.Err, ErrWasNotRunning) {
				got.Err, rep.NotRunning = nil, true
			}
			if got.Err == nil && rc != 0 {
				got.Err = exitError(part) // it said stopped, yet failed
			}
			rep.Stop = got
		case "start":
			if i := bytes.Index(part.Stdout, timeoutLine); i >= 0 {
				rep.StartTimedOut = true
				part.Stdout = append(part.Stdout[:i:i], part.Stdout[i+len(timeoutLine):]...)
			}
			got.Err = p.startResult(part)
			var warned *StartWarning
			if errors.As(got.Err, &warned) {
				got.Err, got.Warning = nil, warned.Note
			}
			if rep.StartTimedOut && got.Err == nil {
				got.Err = errors.New("killed at the end of its timeout")
			}
			rep.Start = got
		case "status":
			rep.State, got.Err = p.statusResult(part)
			rep.Status = got
		}
	}
	if !rep.Stop.Ran {
		return rep, fmt.Errorf("restart script: it ended before its stop did (%v)", exitError(res))
	}
	var anyway *StoppedAnyway
	if (rep.Stop.Err == nil || errors.As(rep.Stop.Err, &anyway)) && !rep.Start.Ran {
		// The stop went well (or stopped the service all the same), so
		// the start began, and never reported its
		// end: the script was killed during it (by the start command
		// itself, say a `pkill -f` that matches the script). Not started.
		rep.Start = Part{Ran: true, Err: fmt.Errorf("the restart script ended during the start (%v)",
			exitError(Result{Stdout: outs, Stderr: errs, ExitCode: res.ExitCode}))}
	}
	return rep, nil
}

// cutPart finds the end line of part name in out: the part's output
// before it, its exit code and duration, and what follows the line.
func cutPart(out []byte, mark, name string) (part []byte, rc, cs int, rest []byte, ok bool) {
	before, after, found := bytes.Cut(out, []byte("\n"+mark+" end "+name+" "))
	if !found {
		return nil, 0, 0, out, false
	}
	line, rest, _ := bytes.Cut(after, []byte("\n"))
	f := strings.Fields(string(line))
	if len(f) != 2 {
		return nil, 0, 0, out, false
	}
	rc, err1 := strconv.Atoi(f[0])
	cs, err2 := strconv.Atoi(f[1])
	if err1 != nil || err2 != nil || cs < 0 {
		return nil, 0, 0, out, false
	}
	return before, rc, cs, rest, true
}
