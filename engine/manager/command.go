package manager

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/omni-fleet/omni/inventory"
)

// commandManager drives a service with the start/stop/status/logs shell
// commands of the inventory.
type commandManager struct {
	host, service, address string
	commands               inventory.Commands
	sudo                   bool
	envFile                string // exported for every command when readable; "" none
}

func (m *commandManager) command(script string) string {
	return wrap(script, m.sudo, true)
}

// Status runs the status command, and ps on the PID it prints, in one
// round trip. The service runs when the status command exits 0 and, if it
// printed a PID, that process is alive and not a zombie.
func (m *commandManager) Status(ctx context.Context, r Runner) (State, error) {
	res, err := runEnds(ctx, r, m.command(asFunction("omni_status", m.statusScript())))
	if err != nil {
		return State{}, fmt.Errorf("status: %w", err)
	}
	return m.statusResult(res)
}

// statusResult reads what the status script printed.
func (m *commandManager) statusResult(res Result) (State, error) {
	rep, err := parseStatusReport(res.Stdout)
	if err != nil {
		return State{}, fmt.Errorf("status: %w (script %v)", err, exitError(res))
	}
	if err := rep.notInstalled(res.Stderr); err != nil {
		return State{}, fmt.Errorf("status: %w", err)
	}
	return rep.state(time.Now()), nil
}

// Start runs the start command, which must return once the service is
// launched (the service detaches itself).
func (m *commandManager) Start(ctx context.Context, r Runner) error {
	res, err := runEnds(ctx, r, m.command(m.startScript()))
	if err != nil {
		return fmt.Errorf("start command: %w", err)
	}
	return startResult(res)
}

// startResult reads how the start command ended.
func startResult(res Result) error {
	if res.ExitCode != 0 {
		return fmt.Errorf("start command: %w", exitError(res))
	}
	return nil
}

// Stop stops the service in one round trip; see stopScript. The caller's
// ctx must allow grace plus the 5 s that SIGKILL may take.
func (m *commandManager) Stop(ctx context.Context, r Runner, grace time.Duration) error {
	res, err := runEnds(ctx, r, m.command(asFunction("omni_stop", m.stopScript(grace))))
	if err != nil {
		return fmt.Errorf("stop script: %w", err)
	}
	return stopResult(res, grace)
}

// stopResult reads what the stop script printed.
func stopResult(res Result, grace time.Duration) error {
	rep, err := parseStopReport(res.Stdout)
	if err != nil {
		return fmt.Errorf("stop script: %w (%v)", err, exitError(res))
	}
	return rep.err(grace, res)
}

// Restart runs the stop script, the start command and (o.ReadState) the
// status script as one remote script: see Restarter.
func (m *commandManager) Restart(ctx context.Context, r Runner, o RestartOptions) (RestartReport, error) {
	rep, err := runRestart(ctx, r, restartParts{
		stop: m.stopScript(o.Grace), start: m.startScript(), status: m.statusScript(),
		inline:       true,
		stopResult:   func(res Result) error { return stopResult(res, o.Grace) },
		startResult:  startResult,
		statusResult: m.statusResult,
		sudo:         m.sudo,
	}, o)
	if err != nil {
		return rep, fmt.Errorf("restart script: %w", err)
	}
	return rep, nil
}

// LogsCommand returns the logs command with OMNI_LINES (lines, 0 for all)
// and OMNI_FOLLOW (1 or 0) exported.
func (m *commandManager) LogsCommand(lines int, follow bool) string {
	return m.command(m.logsScript(lines, follow))
}

// LogTail runs the logs command with OMNI_LINES=TailLines (OMNI_FOLLOW=0)
// and keeps its last lines. The logs command has no notion of time: its
// lines may be older than the start that failed.
func (m *commandManager) LogTail(ctx context.Context, r Runner) LogTail {
	const source = "the logs command"
	if strings.TrimSpace(m.commands.Logs) == "" {
		return LogTail{Source: source, Err: "the service has no logs command"}
	}
	res, err := runEnds(ctx, r, m.LogsCommand(TailLines, false))
	if err != nil {
		return LogTail{Source: source, Err: err.Error()}
	}
	t := plainTail(source, res.Stdout)
	if res.ExitCode != 0 && len(t.Lines) == 0 {
		t.Err = exitError(res).Error()
	}
	return t
}
