package manager

import (
	"github.com/omni-fleet/omni/internal/shell"

	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/omni-fleet/omni/inventory"
)

// Runner runs one shell command on a host. A non-zero exit is not an error.
type Runner interface {
	Run(ctx context.Context, cmd string) (Result, error)
}

// StartChecker is a manager that can tell, before a restart's stop,
// whether it could start the service again (systemd: not a masked unit,
// not one with RefuseManualStart=yes): a restart refuses before it takes
// down a service it could not bring back.
type StartChecker interface {
	Startable(ctx context.Context, r Runner) error
}

// EndsRunner is a Runner that can also run a command whose output is read
// only at its ends: the report lines omni's scripts print after each part,
// and the last words of the user's command before them. Output past what
// the Runner keeps of a command then does not fail it: its middle is left
// out, a note in its place (a start script that prints a large file, a
// status command left in debug mode).
type EndsRunner interface {
	RunEnds(ctx context.Context, cmd string) (Result, error)
}

// Result is what one remote command left behind.
type Result struct {
	Stdout, Stderr []byte
	ExitCode       int
}

// State is a service's state as its manager reports it. "Running" is not
// "healthy": health checks decide that.
type State struct {
	Running    bool
	Status     string    // "running", "stopped", "failed", "activating", ... (lowercase)
	PID        int       // main PID, 0 when none
	Since      time.Time // when it became active (zero if unknown / not running)
	LastActive time.Time // when it last stopped being active (zero if unknown)
	NRestarts  int
	// Finished: not running because it did its work and exited
	// successfully, as a systemd oneshot unit does (Type=oneshot, without
	// RemainAfterExit, inactive with Result=success).
	Finished bool
	// Took is how long the inventory's status command ran, timed on the
	// host (the command manager); 0 when not known (systemd's state is
	// systemd's, read by no command of the inventory's). A health check's
	// process attempt is bounded by the health timeout: a read whose
	// status command took longer cannot stand for one (see engine's
	// runHealthSeen). Not the round trip, nor the login: a slow link or
	// a slow login shell would fail a status command that is quick.
	Took time.Duration
}

// Manager drives one service on one host.
type Manager interface {
	Status(ctx context.Context, r Runner) (State, error)
	Start(ctx context.Context, r Runner) error
	// Stop sends the graceful stop (SIGTERM or the configured stop command), waits up to
	// grace for the process to exit, then SIGKILLs it, then verifies it is stopped
	// (a zombie counts as stopped). Returns an error naming what failed/timed out.
	Stop(ctx context.Context, r Runner, grace time.Duration) error
	// LogsCommand returns the remote command that prints the last `lines` lines (follow: keep streaming).
	LogsCommand(lines int, follow bool) string
}

// Target is the (host, service) pair a Manager drives.
type Target struct {
	Host    *inventory.Host
	Service *inventory.Service
	// EnvFile is the service's environment file on the host (its declared
	// env:), "" when it declares none: the command manager exports it for
	// the service's commands; systemd reads it through the drop-in.
	EnvFile string
}

// Manager names, as written in the inventory.
const (
	Systemd = "systemd"
	Command = "command"
)

// Sudo says whether commands for t run under `sudo -n`: when either the
// service or the host asks for it (see New).
func (t Target) Sudo() bool { return t.Service.Sudo || t.Host.Sudo }

// ErrSudoRefused is wrapped by every error caused by `sudo -n` asking for a
// password, which it cannot do: the login user has no NOPASSWD rule.
var ErrSudoRefused = errors.New("sudo -n refused: it wants a password to run sh as root (omni runs a service's commands as `sudo -n sh -c '…'`: the login user needs a NOPASSWD rule that covers sh, not only systemctl)")

// StoppedAnyway is what Stop returns when the service did stop, but not as
// asked: its stop command failed or outlived the grace period, or the
// process did and was killed with SIGKILL. It is not a failure (the
// service is stopped, as a stop promises), but it is said: a stop command
// that fails on a broken configuration is the operator's first sign of it.
type StoppedAnyway struct{ Note string }

func (s *StoppedAnyway) Error() string { return s.Note }

// StartWarning is what Start returns when the service started, as asked,
// with something the operator must know: systemd runs an old definition
// of its unit (its file changed on disk, no daemon-reload since), or
// systemctl printed a warning. It is not a failure (the service started),
// but it is said, as a StoppedAnyway is.
type StartWarning struct{ Note string }

func (s *StartWarning) Error() string { return s.Note }

// ErrWasNotRunning is what a command manager's Stop (and a restart's stop
// part) returns when the service was not running when the stop began:
// stopped, as a stop promises, but by nothing this stop did. Not a
// failure; it tells the caller that no stop happened now, so that the
// service is not recorded as last active at this moment (a crashed
// service's last activity is when it was last seen running).
var ErrWasNotRunning = errors.New("it was not running")

// New returns the manager of t.Service on t.Host, chosen by
// t.Service.Manager ("systemd", the default when empty, or "command").
//
// Commands run under `sudo -n` when either the service or the host asks
// for it (Service.Sudo || Host.Sudo): sudo is a property of what the
// service needs and of how the host is administered, and running a
// command with sudo that did not need it is harmless while the reverse
// fails. Both fields are already effective values (defaults applied), so
// a service cannot opt out of a host's sudo.
func New(t Target) (Manager, error) {
	if t.Host == nil || t.Service == nil {
		return nil, errors.New("manager: target needs a host and a service")
	}
	sudo := t.Sudo()
	switch t.Service.Manager {
	case Systemd, "":
		unit := t.Service.Unit
		if unit == "" {
			unit = t.Service.Name + ".service"
		}
		return &systemdManager{unit: unit, sudo: sudo}, nil
	case Command:
		c := t.Service.Commands
		if strings.TrimSpace(c.Start) == "" || strings.TrimSpace(c.Status) == "" {
			return nil, fmt.Errorf("service %q: manager %q needs start and status commands", t.Service.Name, Command)
		}
		addr := t.Host.ServiceAddress
		if addr == "" {
			addr = "127.0.0.1"
		}
		return &commandManager{
			host:     t.Host.Name,
			service:  t.Service.Name,
			address:  addr,
			commands: c,
			sudo:     sudo,
			envFile:  t.EnvFile,
		}, nil
	default:
		return nil, fmt.Errorf("service %q: unknown manager %q (want %q or %q)", t.Service.Name, t.Service.Manager, Systemd, Command)
	}
}

// wrap turns a script into the remote command line: as is when it is a
// plain command and sudo is off, `sh -c` when it needs a POSIX shell (the
// login shell may not be one), `sudo -n sh -c` when sudo is on. -n makes a
// missing sudo rule fail at once instead of waiting for a password.
func wrap(script string, sudo, needShell bool) string {
	switch {
	case sudo:
		return "sudo -n sh -c " + shell.Quote(script)
	case needShell:
		return "sh -c " + shell.Quote(script)
	default:
		return script
	}
}

// asFunction is body, a script that ends with `return` and never `exit`,
// as a function called name, defined and called at once: the script's
// exit status is what body returns.
func asFunction(name, body string) string {
	return name + "() {\n" + body + "\n}\n" + name + "\n"
}

// CheckSudo returns an error wrapping ErrSudoRefused when stderr shows that
// `sudo -n` wanted a password. Callers that run LogsCommand themselves use
// it (through SudoRefused) to report the same error as the other
// operations.
func CheckSudo(stderr []byte) error {
	if bytes.Contains(stderr, []byte("sudo: a password is required")) {
		return ErrSudoRefused
	}
	return nil
}

// run runs cmd and turns a transport failure or a sudo refusal into an
// error; any other exit code is left to the caller.
func run(ctx context.Context, r Runner, cmd string) (Result, error) {
	res, err := r.Run(ctx, cmd)
	return checked(cmd, res, err)
}

// runEnds is run for a script that runs a user's command, whose output may
// be long: with r's RunEnds where it has one (see EndsRunner).
func runEnds(ctx context.Context, r Runner, cmd string) (Result, error) {
	if er, ok := r.(EndsRunner); ok {
		res, err := er.RunEnds(ctx, cmd)
		return checked(cmd, res, err)
	}
	return run(ctx, r, cmd)
}

// checked is run's reading of cmd's result. sudo's refusal is looked for
// only when omni ran cmd under sudo: then everything in it ran as root,
// and a "password is required" can only be omni's own sudo's; a command
// without it may run a sudo of its own, whose refusal is its business.
func checked(cmd string, res Result, err error) (Result, error) {
	if err != nil {
		return res, err
	}
	return res, SudoRefused(cmd, res.Stderr)
}

// SudoRefused is CheckSudo for cmd, a command line of this package's (a
// LogsCommand), and stderr, what it printed first: sudo's refusal is
// looked for only when omni runs cmd under sudo (see checked).
func SudoRefused(cmd string, stderr []byte) error {
	if !strings.HasPrefix(cmd, "sudo -n ") {
		return nil
	}
	return CheckSudo(stderr)
}

// exitError describes a failed command: "exit 1: Job for ... failed".
func exitError(res Result) error {
	msg := outputText(res.Stderr)
	if msg == "" {
		msg = outputText(res.Stdout)
	}
	if msg == "" {
		return fmt.Errorf("exit %d", res.ExitCode)
	}
	return fmt.Errorf("exit %d: %s", res.ExitCode, msg)
}

// maxOutputInError bounds how much of a command's output an error carries.
const maxOutputInError = 2000

// outputText is b trimmed, cut to maxOutputInError bytes (keeping the end,
// where the reason usually is), made printable line by line: a host's
// escape sequences (a title change, a screen clear, colours) and carriage
// returns end on the operator's terminal as "?", as in a log tail.
func outputText(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > maxOutputInError {
		s = "…" + strings.ToValidUTF8(s[len(s)-maxOutputInError:], "")
	}
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = Printable(strings.TrimSuffix(l, "\r"))
	}
	return strings.Join(lines, "\n")
}
