package manager

import (
	"github.com/omni-fleet/omni/internal/shell"

	"context"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// systemdManager drives a systemd unit with systemctl and journalctl.
type systemdManager struct {
	unit string
	sudo bool
}

// showProperties are the unit properties Status asks for, in one call.
const showProperties = "LoadState,ActiveState,SubState,MainPID,ActiveEnterTimestamp,InactiveEnterTimestamp,NRestarts"

func (m *systemdManager) command(cmd string) string {
	return wrap(cmd, m.sudo, false)
}

func (m *systemdManager) statusCommand() string {
	return m.command("systemctl show -p " + showProperties + " --no-pager -- " + shell.Quote(m.unit))
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

// systemdStopScript stops the unit gracefully within omni's grace period,
// whatever the unit's own TimeoutStopSec: it queues the stop (systemd sends
// the unit's KillSignal, SIGTERM by default), waits up to the grace period
// for the unit to go inactive or failed, then SIGKILLs what is left with
// `systemctl kill` and waits up to 5 s more. It prints result=stopped,
// killed or still-running. @TICKS@ is the grace period in 0.1 s steps and
// @SECONDS@ in whole seconds, rounded up: each wait ends at whichever comes
// first, so slow probes cannot stretch it far past the grace period.
const systemdStopScript = `omni_unit=@UNIT@
omni_gone() {
	omni_i=0
	omni_end=$(($(date +%s) + $2))
	while [ "$omni_i" -lt "$1" ] && [ "$(date +%s)" -le "$omni_end" ]; do
		case $(systemctl show -p ActiveState --value -- "$omni_unit") in inactive|failed) return 0 ;; esac
		sleep 0.1
		omni_i=$((omni_i + 1))
	done
	return 1
}
systemctl stop --no-block -- "$omni_unit" || exit $?
if omni_gone @TICKS@ @SECONDS@; then
	echo result=stopped
	exit 0
fi
systemctl kill --signal=SIGKILL -- "$omni_unit" || exit $?
if omni_gone 50 5; then
	echo result=killed
else
	echo result=still-running
fi
`

func (m *systemdManager) stopCommand(grace time.Duration) string {
	ticks := steps(grace, 100*time.Millisecond)
	if ticks < 1 {
		ticks = 1
	}
	script := strings.NewReplacer("@UNIT@", shell.Quote(m.unit), "@TICKS@", strconv.Itoa(ticks), "@SECONDS@", strconv.Itoa(steps(grace, time.Second))).Replace(systemdStopScript)
	return wrap(script, m.sudo, true)
}

// Stop stops the unit gracefully (SIGTERM, SIGKILL after grace), then
// checks with systemctl show that it is inactive or failed.
func (m *systemdManager) Stop(ctx context.Context, r Runner, grace time.Duration) error {
	res, err := run(ctx, r, m.stopCommand(grace))
	if err != nil {
		return fmt.Errorf("systemctl stop %s: %w", m.unit, err)
	}
	if res.ExitCode != 0 {
		return fmt.Errorf("systemctl stop %s: %w", m.unit, exitError(res))
	}
	if strings.Contains(string(res.Stdout), "result=still-running") {
		return fmt.Errorf("%s is still running after SIGKILL", m.unit)
	}
	info, err := m.show(ctx, r)
	if err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	switch info.ActiveState {
	case "inactive", "failed":
		return nil
	}
	if info.MainPID != 0 {
		return fmt.Errorf("%s is still %s (%s, pid %d) after systemctl stop", m.unit, info.ActiveState, info.SubState, info.MainPID)
	}
	return fmt.Errorf("%s is still %s (%s) after systemctl stop", m.unit, info.ActiveState, info.SubState)
}

func (m *systemdManager) systemctl(ctx context.Context, r Runner, verb string) error {
	res, err := run(ctx, r, m.command("systemctl "+verb+" -- "+shell.Quote(m.unit)))
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
	cmd := "journalctl -u " + shell.Quote(m.unit) + " -n " + n + " --no-pager -o short-iso"
	if follow {
		cmd += " -f"
	}
	return m.command(cmd)
}
