package manager

import (
	"context"
	"fmt"
	"strconv"
	"time"
)

// systemdManager drives a systemd unit with systemctl and journalctl.
type systemdManager struct {
	unit string
	sudo bool
}

// showProperties are the unit properties Status asks for, in one call.
const showProperties = "ActiveState,SubState,MainPID,ActiveEnterTimestamp,InactiveEnterTimestamp,NRestarts"

func (m *systemdManager) command(cmd string) string {
	return wrap(cmd, m.sudo, false)
}

func (m *systemdManager) statusCommand() string {
	return m.command("systemctl show -p " + showProperties + " --no-pager -- " + Quote(m.unit))
}

func (m *systemdManager) Status(ctx context.Context, r Runner) (State, error) {
	info, err := m.show(ctx, r)
	if err != nil {
		return State{}, fmt.Errorf("status: %w", err)
	}
	return info.state(), nil
}

func (m *systemdManager) show(ctx context.Context, r Runner) (unitInfo, error) {
	res, err := run(ctx, r, m.statusCommand())
	if err != nil {
		return unitInfo{}, fmt.Errorf("systemctl show %s: %w", m.unit, err)
	}
	if res.ExitCode != 0 {
		return unitInfo{}, fmt.Errorf("systemctl show %s: %w", m.unit, exitError(res))
	}
	info, err := parseShow(res.Stdout)
	if err != nil {
		return unitInfo{}, fmt.Errorf("systemctl show %s: %w", m.unit, err)
	}
	return info, nil
}

// Start runs `systemctl start`, which returns when the start job is done
// (for Type=simple, as soon as the process is forked).
func (m *systemdManager) Start(ctx context.Context, r Runner) error {
	return m.systemctl(ctx, r, "start")
}

// Stop runs `systemctl stop`, which waits for the job: systemd itself sends
// the unit's KillSignal, waits TimeoutStopSec and SIGKILLs what is left, so
// grace is not used (the unit file's timeout is the grace period). Stop then
// checks that the unit is inactive or failed.
func (m *systemdManager) Stop(ctx context.Context, r Runner, grace time.Duration) error {
	if err := m.systemctl(ctx, r, "stop"); err != nil {
		return err
	}
	info, err := m.show(ctx, r)
	if err != nil {
		return fmt.Errorf("stop: verify: %w", err)
	}
	switch info.ActiveState {
	case "inactive", "failed":
		return nil
	}
	if info.MainPID != 0 {
		return fmt.Errorf("stop: %s is still %s (%s, pid %d) after systemctl stop", m.unit, info.ActiveState, info.SubState, info.MainPID)
	}
	return fmt.Errorf("stop: %s is still %s (%s) after systemctl stop", m.unit, info.ActiveState, info.SubState)
}

func (m *systemdManager) systemctl(ctx context.Context, r Runner, verb string) error {
	res, err := run(ctx, r, m.command("systemctl "+verb+" -- "+Quote(m.unit)))
	if err != nil {
		return fmt.Errorf("systemctl %s %s: %w", verb, m.unit, err)
	}
	if res.ExitCode != 0 {
		return fmt.Errorf("systemctl %s %s: %w", verb, m.unit, exitError(res))
	}
	return nil
}

// LogsCommand returns a journalctl command; lines <= 0 means all lines.
func (m *systemdManager) LogsCommand(lines int, follow bool) string {
	n := "all"
	if lines > 0 {
		n = strconv.Itoa(lines)
	}
	cmd := "journalctl -u " + Quote(m.unit) + " -n " + n + " --no-pager -o short-iso"
	if follow {
		cmd += " -f"
	}
	return m.command(cmd)
}
