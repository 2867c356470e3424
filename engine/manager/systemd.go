package manager

import (
	"errors"

	"github.com/omni-fleet/omni/internal/shell"

	"bytes"
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
	// since is the host's clock when Start last ran (epoch seconds, maybe
	// with a fraction): LogTail reads the journal from then on.
	since string
}

// showProperties are the unit properties Status asks for, in one call.
const showProperties = "LoadState,ActiveState,SubState,MainPID,ActiveEnterTimestamp,InactiveEnterTimestamp,NRestarts,Type,Result," +
	"ActiveEnterTimestampMonotonic,InactiveEnterTimestampMonotonic,ExecStop"

func (m *systemdManager) command(cmd string) string {
	return wrap(cmd, m.sudo, false)
}

func (m *systemdManager) statusCommand() string {
	return m.command(hostClockLine + "systemctl show -p " + showProperties + " --no-pager -- " + shell.Quote(m.unit))
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
	return m.showResult(res)
}

// Start runs `systemctl start`, which returns when the start job is done
// (for Type=simple, as soon as the process is forked). The same round trip
// notes the host's clock first (LogTail reads the journal from then on)
// and, when the start fails, reads the journal's tail: the error carries
// the unit's own words (a *LogError), not only systemctl's "Job for X
// failed; see journalctl -xeu X".
func (m *systemdManager) Start(ctx context.Context, r Runner) error {
	m.since = "" // this start's, once it says
	res, err := run(ctx, r, m.startCommand())
	if err != nil {
		return fmt.Errorf("systemctl start %s: %w", m.unit, err)
	}
	return m.startResult(res)
}

// startResult reads what the start script printed: the host's clock,
// and how the start ended. A start that succeeded with something to say
// (its unit file changed on disk and was not reloaded; a warning of
// systemctl's on stderr) is a *StartWarning.
func (m *systemdManager) startResult(res Result) error {
	report, journal, _ := bytes.Cut(res.Stdout, []byte(journalMarker+"\n"))
	kv := parseReport(report)
	if since := kv["since"]; validSince(since) {
		m.since = since
	}
	if res.ExitCode != 0 {
		res.Stdout = nil // the report and the journal are not systemctl's words
		err := fmt.Errorf("systemctl start %s: %w", m.unit, exitError(res))
		return &LogError{Err: err, Tail: journalTail(m.tailSource(), journal)}
	}
	return startWarning(kv["need_daemon_reload"] == "yes", res.Stderr)
}

// staleUnit is the warning of a start whose unit file changed on disk
// without a daemon-reload (NeedDaemonReload=yes).
const staleUnit = "the unit file changed on disk and systemd has not reloaded it: it runs the old definition (run systemctl daemon-reload, or omni config apply)"

// startWarning is what a successful start has to say, nil when nothing:
// stale (NeedDaemonReload=yes), and what systemctl printed on stderr
// (its own "changed on disk" warning left out when stale says it).
func startWarning(stale bool, stderr []byte) error {
	var notes, said []string
	if stale {
		notes = append(notes, staleUnit)
	}
	for _, line := range strings.Split(outputText(stderr), "\n") {
		if line = strings.TrimSpace(line); line == "" || (stale && strings.Contains(line, "daemon-reload")) {
			continue
		}
		said = append(said, line)
	}
	if len(said) > 0 {
		notes = append(notes, "systemctl said: "+strings.Join(said, " "))
	}
	if len(notes) == 0 {
		return nil
	}
	return &StartWarning{Note: strings.Join(notes, "; ")}
}

// journalMarker separates the start script's report from the journal's
// tail on its stdout.
const journalMarker = "omni-journal-tail:"

// systemdTailScript defines omni_tail, which prints the unit's journal
// since omni_since (the host's clock when omni started it; all of it when
// empty) as JSON, one entry a line: the last few entries, _PID and MESSAGE
// only. The unit's own lines reach the journal through journald's stream
// sockets a moment after systemctl returns: it waits up to 1 s for the
// first of them (a unit that wrote nothing costs that second). The journal
// knows a unit by its own name (its Id), not by an alias the inventory
// may use (mysql.service for mariadb.service): the Id is read first.
const systemdTailScript = `omni_tail() {
	omni_id=$(systemctl show -p Id --value -- "$omni_unit" 2>/dev/null)
	[ -n "$omni_id" ] || omni_id=$omni_unit
	set -- -u "$omni_id"
	[ -z "$omni_since" ] || set -- "$@" --since "@$omni_since"
	omni_i=0
	while [ "$omni_i" -lt 10 ] && [ -z "$(journalctl _SYSTEMD_UNIT="$omni_id" ${omni_since:+--since "@$omni_since"} -q -n 1 -o cat --no-pager 2>/dev/null)" ]; do
		sleep 0.1
		omni_i=$((omni_i + 1))
	done
	echo ` + journalMarker + `
	journalctl "$@" -q -n @FETCH@ --no-pager -o json --all --output-fields=_PID,MESSAGE 2>&1
}
`

// systemdStartScript prints since= (the host's clock, to the microsecond
// where date has %N) and starts the unit. When the start succeeds it
// prints need_daemon_reload= (the unit's NeedDaemonReload: its file
// changed on disk since systemd loaded it, so it runs the old definition);
// when it fails, the journal's tail after journalMarker, and it exits with
// systemctl's code.
const systemdStartScript = `omni_unit=@UNIT@
omni_since=$(date +%s.%N 2>/dev/null)
case $omni_since in *.[0-9][0-9][0-9][0-9][0-9][0-9]*) omni_since=${omni_since%???} ;; *) omni_since=$(date +%s) ;; esac
echo "since=$omni_since"
systemctl start -- "$omni_unit"
omni_rc=$?
if [ "$omni_rc" -eq 0 ]; then
	echo "need_daemon_reload=$(systemctl show -p NeedDaemonReload --value -- "$omni_unit" 2>/dev/null)"
	exit 0
fi
` + systemdTailScript + `omni_tail
exit "$omni_rc"
`

func (m *systemdManager) startCommand() string {
	return wrap(m.script(systemdStartScript), m.sudo, true)
}

// script fills a script's unit and the number of entries it reads.
func (m *systemdManager) script(s string) string {
	return strings.NewReplacer("@UNIT@", shell.Quote(m.unit), "@FETCH@", strconv.Itoa(tailFetch)).Replace(s)
}

// validSince accepts the host clock's "1700000000" or "1700000000.123456".
func validSince(s string) bool {
	whole, frac, _ := strings.Cut(s, ".")
	return whole != "" && strings.Trim(whole, "0123456789") == "" && strings.Trim(frac, "0123456789") == ""
}

func (m *systemdManager) tailSource() string {
	if m.since == "" {
		return "journalctl -u " + m.unit
	}
	return "journalctl -u " + m.unit + " since the start"
}

// systemdEndStartScript follows systemdTailScript: it prints since= (the
// start's: @SINCE@ when it is known, else the host's clock less @AGO_US@,
// how long ago omni sent the start, in µs), the journal's tail since then
// after journalMarker, read before the stop so that it is the start's own,
// and then stops the unit (systemctl stop: job mode replace, so the stop
// replaces the start job, and systemd kills the unit's processes). It
// exits with systemctl stop's code.
const systemdEndStartScript = `omni_since=@SINCE@
if [ -z "$omni_since" ]; then
	omni_now=$(date +%s.%N 2>/dev/null)
	case $omni_now in
	*.[0-9][0-9][0-9][0-9][0-9][0-9]*) omni_f=${omni_now#*.}; omni_f=${omni_f%???}; omni_us=${omni_now%%.*}$omni_f ;;
	*) omni_us=$(date +%s)000000 ;;
	esac
	omni_us=$((omni_us - @AGO_US@))
	omni_since=$((omni_us / 1000000)).$(printf %06d $((omni_us % 1000000)))
fi
echo "since=$omni_since"
omni_tail
systemctl stop -- "$omni_unit" >&2
`

// StartEnder is a manager whose start goes on on the host when omni stops
// waiting for it: systemd's start job runs to its end whatever becomes of
// the systemctl start that queued it, and the unit comes up later,
// although omni said the start failed. (The command manager's start is a
// process omni kills with its timeout, and everything below it.)
type StartEnder interface {
	// EndStart ends on the host a start omni stopped waiting for (its
	// timeout, an interrupt), sent ago: what it did, said as a clause
	// ("the start was stopped (systemctl stop)", or why it could not),
	// and the service's log tail since that start, read before it ended
	// it.
	EndStart(ctx context.Context, r Runner, ago time.Duration) (note string, tail LogTail)
}

// EndStart stops the unit (see systemdEndStartScript), in one round trip
// with the read of its journal since the start: where the start script's
// since= was lost with the command cut short, the start's since is the
// host's clock less ago (the link's delay at most early).
func (m *systemdManager) EndStart(ctx context.Context, r Runner, ago time.Duration) (string, LogTail) {
	script := "omni_unit=@UNIT@\n" + systemdTailScript + strings.NewReplacer(
		"@SINCE@", shell.Quote(m.since), "@AGO_US@", strconv.FormatInt(max(ago, 0).Microseconds(), 10),
	).Replace(systemdEndStartScript)
	res, err := run(ctx, r, wrap(m.script(script), m.sudo, true))
	if err != nil {
		return fmt.Sprintf("stopping it failed (systemctl stop %s: %v): it may still come up", m.unit, err), LogTail{Source: m.tailSource(), Err: err.Error()}
	}
	report, journal, _ := bytes.Cut(res.Stdout, []byte(journalMarker+"\n"))
	if since := parseReport(report)["since"]; validSince(since) {
		m.since = since
	}
	tail := journalTail(m.tailSource(), journal)
	if res.ExitCode != 0 {
		res.Stdout = nil
		return fmt.Sprintf("stopping it failed (systemctl stop %s: %v): it may still come up", m.unit, exitError(res)), tail
	}
	return "the start was stopped (systemctl stop)", tail
}

// LogTail reads the unit's journal since this manager's last Start (the
// whole journal of the unit when it did not start it): the last TailLines
// lines, the reason being the last one the unit's own processes wrote.
func (m *systemdManager) LogTail(ctx context.Context, r Runner) LogTail {
	script := "omni_unit=@UNIT@\nomni_since=" + shell.Quote(m.since) + "\n" + systemdTailScript + "omni_tail\n"
	res, err := run(ctx, r, wrap(m.script(script), m.sudo, true))
	if err != nil {
		return LogTail{Source: m.tailSource(), Err: err.Error()}
	}
	_, journal, _ := bytes.Cut(res.Stdout, []byte(journalMarker+"\n"))
	t := journalTail(m.tailSource(), journal)
	if t.Empty() && res.ExitCode != 0 {
		t.Err = exitError(res).Error()
	}
	return t
}

// systemdStopScript stops the unit gracefully within omni's grace period,
// whatever the unit's own TimeoutStopSec: it queues the stop (systemd sends
// the unit's KillSignal, SIGTERM by default), waits up to the grace period
// for the unit to go inactive or failed, then SIGKILLs what is left with
// `systemctl kill` and waits up to 5 s more. It prints result=stopped,
// killed or still-running (and then exits 3). @TICKS@ is the grace period in 0.1 s steps and
// @SECONDS@ in whole seconds, rounded up: each wait ends at whichever comes
// first, so slow probes cannot stretch it far past the grace period.
const systemdStopScript = `omni_unit=@UNIT@
read -r omni_up0 omni_x </proc/uptime 2>/dev/null && echo "stop_began=$omni_up0"
omni_gone() {
	omni_i=0
	omni_end=$(($(date +%s) + $2))
	while [ "$omni_i" -lt "$1" ] && [ "$(date +%s)" -le "$omni_end" ]; do
		omni_s=$(systemctl show -p ActiveState,TriggeredBy -- "$omni_unit")
		case $omni_s in *ActiveState=inactive*|*ActiveState=failed*) return 0 ;; esac
		sleep 0.1
		omni_i=$((omni_i + 1))
	done
	return 1
}
systemctl stop --no-block -- "$omni_unit" || exit $?
omni_triggers() {
	case $omni_s in *TriggeredBy=?*) ;; *) return 0 ;; esac
	omni_t=${omni_s#*TriggeredBy=}
	for omni_u in ${omni_t%%
*}; do
		[ "$(systemctl show -p ActiveState --value -- "$omni_u")" != active ] || echo "triggered_by=$omni_u"
	done
}
if omni_gone @TICKS@ @SECONDS@; then
	echo result=stopped
	omni_triggers
	exit 0
fi
systemctl kill --signal=SIGKILL -- "$omni_unit" || exit $?
if omni_gone 50 5; then
	echo result=killed
	omni_triggers
else
	echo result=still-running
	exit 3
fi
`

func (m *systemdManager) stopCommand(grace time.Duration) string {
	return wrap(m.stopScript(grace), m.sudo, true)
}

func (m *systemdManager) stopScript(grace time.Duration) string {
	ticks := steps(grace, 100*time.Millisecond)
	if ticks < 1 {
		ticks = 1
	}
	return strings.NewReplacer("@UNIT@", shell.Quote(m.unit), "@TICKS@", strconv.Itoa(ticks), "@SECONDS@", strconv.Itoa(steps(grace, time.Second))).Replace(systemdStopScript)
}

// Stop stops the unit gracefully (SIGTERM, SIGKILL after grace), then
// checks with systemctl show that it is inactive or failed.
func (m *systemdManager) Stop(ctx context.Context, r Runner, grace time.Duration) error {
	res, err := run(ctx, r, m.stopCommand(grace))
	if err != nil {
		return fmt.Errorf("systemctl stop %s: %w", m.unit, err)
	}
	forced := m.stopResult(res)
	var anyway *StoppedAnyway
	if forced != nil && !errors.As(forced, &anyway) {
		return forced
	}
	info, err := m.show(ctx, r)
	if err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	if err := m.verifyStopped(info); err != nil {
		return err
	}
	err = stoppedAnyway(anyway, info, stopBegan(res.Stdout))
	if units := triggeredBy(res.Stdout); len(units) > 0 {
		// Stopped, but not for long: say what can start it, besides how
		// it stopped.
		note := "it can still be started by " + strings.Join(units, ", ") + " (systemd's warning): stop that too to keep it down"
		var notAsAsked *StoppedAnyway
		if errors.As(err, &notAsAsked) {
			note = notAsAsked.Note + "; " + note
		}
		return &StoppedAnyway{Note: note}
	}
	return err
}

// triggeredBy is what the stop script found still able to start the unit
// again (its triggered_by= lines): the active units of its TriggeredBy=
// (a .socket, .path or .timer), as systemctl stop warns without
// --no-block.
func triggeredBy(out []byte) []string {
	var units []string
	for k, v := range keyValues(out) {
		if k == "triggered_by" && v != "" {
			units = append(units, v)
		}
	}
	return units
}

// stopBegan is the host's uptime when the stop script began (its
// stop_began= line), 0 when it did not say.
func stopBegan(out []byte) time.Duration {
	for k, v := range keyValues(out) {
		if k == "stop_began" {
			d, _ := parseUptime(v)
			return d
		}
	}
	return 0
}

// stoppedAnyway is how a stopped unit ended otherwise than asked: omni's
// own SIGKILL after the grace period (forced), or systemd's when the
// unit's TimeoutStopSec ran out (it ends failed, Result=timeout); nil when
// it stopped as asked.
//
// A stop command (ExecStop=) that failed is said too, when the unit went
// inactive during this stop (began: the host's uptime when the stop
// began), so that the result is this stop's and not an earlier one's:
// systemd then ended the service with SIGTERM itself.
func stoppedAnyway(forced *StoppedAnyway, info unitInfo, began time.Duration) error {
	if forced != nil {
		return forced
	}
	if info.ExecStopFailed != "" && began > 0 && time.Duration(info.InactiveEnterMono)*time.Microsecond >= began {
		return &StoppedAnyway{Note: "its stop command (ExecStop=) failed (" + info.ExecStopFailed + "); systemd stopped it with SIGTERM (its words: omni service logs)"}
	}
	if info.ActiveState != "failed" || info.Result != "timeout" {
		// Another Result (exit-code: a process that exits 143 on
		// SIGTERM, as a JVM does) is how the service ended, not a stop
		// that failed.
		return nil
	}
	return &StoppedAnyway{Note: "killed by systemd (SIGKILL) when its TimeoutStopSec ran out (Result=timeout)"}
}

// stopResult reads what the stop script printed.
func (m *systemdManager) stopResult(res Result) error {
	if strings.Contains(string(res.Stdout), "result=still-running") {
		return fmt.Errorf("%s is still running after SIGKILL", m.unit)
	}
	if res.ExitCode != 0 {
		return fmt.Errorf("systemctl stop %s: %w", m.unit, exitError(res))
	}
	if strings.Contains(string(res.Stdout), "result=killed") {
		return &StoppedAnyway{Note: "killed with SIGKILL after the grace period"}
	}
	return nil
}

// verifyStopped is nil when the unit is inactive or failed.
func (m *systemdManager) verifyStopped(info unitInfo) error {
	switch info.ActiveState {
	case "inactive", "failed":
		return nil
	}
	if info.MainPID != 0 {
		return fmt.Errorf("%s is still %s (%s, pid %d) after systemctl stop", m.unit, info.ActiveState, info.SubState, info.MainPID)
	}
	return fmt.Errorf("%s is still %s (%s) after systemctl stop", m.unit, info.ActiveState, info.SubState)
}

// showResult reads what systemctl show printed.
func (m *systemdManager) showResult(res Result) (unitInfo, error) {
	if res.ExitCode != 0 {
		return unitInfo{}, fmt.Errorf("systemctl show %s: %w", m.unit, exitError(res))
	}
	info, err := parseShow(res.Stdout)
	if err != nil {
		return unitInfo{}, fmt.Errorf("systemctl show %s: %w", m.unit, err)
	}
	return info, nil
}

// verifyMarker separates, in the restart script's stop part, the stop
// script's report from the verifying systemctl show's output.
const verifyMarker = "omni-verify:"

// systemdRestartStop is the restart script's stop part: the stop script,
// then the same check as Stop's, systemctl show, in the same round trip.
// It exits 0 only when the unit is inactive or failed (4: show failed).
const systemdRestartStop = startableCheck + `(
@STOPSCRIPT@
) || exit $?
echo ` + verifyMarker + `
omni_show=$(@SHOW@)
omni_rc=$?
printf '%s\n' "$omni_show"
[ "$omni_rc" -eq 0 ] || exit 4
case $omni_show in *ActiveState=inactive*|*ActiveState=failed*) exit 0 ;; esac
exit 3`

// unstartableMarker starts the lines the restart script prints when the
// unit cannot be started again (see Startable), before any stop.
const unstartableMarker = "omni-unstartable:"

// startableCheck ends its script (exit 6) after unstartableMarker and the
// unit's load state when systemd would not start it again (Startable; the
// restart script's stop part begins with it). A read that fails says
// nothing: the stop then fails on its own, or goes on as before.
const startableCheck = `omni_can=$(systemctl show -p LoadState,CanStart --no-pager -- @UNIT@)
case $omni_can in *LoadState=masked*|*LoadState=not-found*|*CanStart=no*)
	echo ` + unstartableMarker + `
	printf '%s\n' "$omni_can"
	exit 6
esac
`

// UnstartableError is a restart refused before its stop: systemd would not
// start the unit again (masked, no unit file, RefuseManualStart=yes), so
// stopping it would only take the service down, as `systemctl restart`
// refuses to.
type UnstartableError struct {
	Unit, Why string
}

func (e *UnstartableError) Error() string {
	return e.Unit + " " + e.Why + ": systemd would not start it again, so omni did not stop it"
}

// unstartable reads what the startable check printed: an
// *UnstartableError when the unit cannot be started, else nil (a check
// that could not read the unit says nothing: the stop then fails on its
// own, or goes on as before).
func (m *systemdManager) unstartable(res Result) error {
	_, props, found := bytes.Cut(res.Stdout, []byte(unstartableMarker+"\n"))
	if !found {
		return nil
	}
	load := ""
	for k, v := range keyValues(props) {
		if k == "LoadState" {
			load = v
		}
	}
	why := ""
	switch load {
	case "masked":
		why = "is masked (LoadState=masked; systemctl unmask it first)"
	case "not-found":
		why = "has no unit file (LoadState=not-found)"
	case "loaded", "":
		why = "refuses manual starts (CanStart=no: RefuseManualStart=yes, or a unit type that cannot be started)"
	case "bad-setting":
		why = "has a bad setting in its unit file (LoadState=bad-setting; systemctl status says which)"
	default:
		why = "could not be loaded (LoadState=" + load + ")"
	}
	return &UnstartableError{Unit: m.unit, Why: why}
}

// Startable says, before a restart's stop, whether systemd would start the
// unit again: an *UnstartableError when not (see the restart script,
// which checks the same in its own round trip).
func (m *systemdManager) Startable(ctx context.Context, r Runner) error {
	res, err := run(ctx, r, m.command(strings.ReplaceAll(startableCheck, "@UNIT@", shell.Quote(m.unit))))
	if err != nil {
		return fmt.Errorf("systemctl show %s: %w", m.unit, err)
	}
	return m.unstartable(res)
}

// Restart runs the stop (and its check), the start and (o.ReadState)
// systemctl show as one remote script: see Restarter. systemd's own
// `systemctl restart` is not used: omni's stop keeps its grace period
// whatever the unit's TimeoutStopSec, and each part reports on its own.
func (m *systemdManager) Restart(ctx context.Context, r Runner, o RestartOptions) (RestartReport, error) {
	m.since = "" // this start's, once it says
	show := "systemctl show -p " + showProperties + " --no-pager -- " + shell.Quote(m.unit)
	stop := strings.NewReplacer("@STOPSCRIPT@", m.stopScript(o.Grace), "@SHOW@", show, "@UNIT@", shell.Quote(m.unit)).Replace(systemdRestartStop)
	rep, err := runRestart(ctx, r, restartParts{
		stop: stop, start: m.script(systemdStartScript), status: hostClockLine + show,
		stopResult: func(res Result) error {
			if err := m.unstartable(res); err != nil {
				return err
			}
			script, verify, _ := bytes.Cut(res.Stdout, []byte(verifyMarker+"\n"))
			forced := m.stopResult(Result{Stdout: script, Stderr: res.Stderr, ExitCode: res.ExitCode})
			var anyway *StoppedAnyway
			if forced != nil && !errors.As(forced, &anyway) && len(verify) == 0 {
				return forced
			}
			showRC := 0 // exit 3 is the unit still active: show itself succeeded
			if res.ExitCode == 4 {
				showRC = 4
			}
			info, err := m.showResult(Result{Stdout: verify, Stderr: res.Stderr, ExitCode: showRC})
			if err != nil {
				return fmt.Errorf("verify: %w", err)
			}
			if err := m.verifyStopped(info); err != nil {
				return err
			}
			return stoppedAnyway(anyway, info, stopBegan(script))
		},
		startResult: m.startResult,
		statusResult: func(res Result) (State, error) {
			info, err := m.showResult(res)
			if err != nil {
				return State{}, fmt.Errorf("status: %w", err)
			}
			return info.state(), nil
		},
		sudo: m.sudo,
	}, o)
	if err != nil {
		return rep, fmt.Errorf("restart %s: %w", m.unit, err)
	}
	return rep, nil
}

// LogsCommand returns a journalctl command; lines <= 0 means all lines.
// A unit that is not installed (LoadState=not-found) has no journal of its
// own: journalctl would print "-- No entries --" and exit 0, as if the
// service had written nothing; the command says so on stderr and exits 1,
// as status, start, stop and restart fail on it.
func (m *systemdManager) LogsCommand(lines int, follow bool) string {
	n := "all"
	if lines > 0 {
		n = strconv.Itoa(lines)
	}
	// The journal knows the unit by its Id, not by an alias (see
	// systemdTailScript).
	unit := shell.Quote(m.unit)
	cmd := "omni_s=$(systemctl show -p Id,LoadState -- " + unit + " 2>/dev/null); " +
		"case $omni_s in *LoadState=not-found*) echo " + shell.Quote(m.unit+": "+notInstalled) + " >&2; exit 1 ;; esac; " +
		"omni_id=; for omni_l in $omni_s; do case $omni_l in Id=?*) omni_id=${omni_l#Id=} ;; esac; done; " +
		"[ -n \"$omni_id\" ] || omni_id=" + unit + "; " +
		"exec journalctl -u \"$omni_id\" -n " + n + " --no-pager -o short-iso"
	if follow {
		cmd += " -f"
	}
	return m.command(cmd)
}
