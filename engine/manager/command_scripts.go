package manager

import (
	"github.com/omni-fleet/omni/internal/shell"

	"strconv"
	"strings"
	"time"
)

// The scripts of the command manager. Each runs as one `sh -c` (or
// `sudo -n sh -c`) on the host, and the ones whose result omni must
// interpret print a few key=value lines on stdout. The user's commands are
// inserted as shell text on lines of their own, inside a subshell or
// command substitution, so that their `exit`, trailing comments or
// here-documents cannot break the script around them, and with their
// stdout kept out of the report. The OMNI_* environment line (and the
// service's environment file) goes into the same subshell, in front of
// the user's command: omni's own text needs none of it, so that a stop
// and a status read are safe to run as functions of a larger script, in
// its own shell (see the restart script). Placeholders are replaced in
// one pass, so user text that looks like a placeholder stays as it is.
//
// omni_pid is the first word of the status command's stdout when it is a
// plausible PID (digits, not 0 or 1: never signal init or a process
// group; not above 4194304, the largest pid_max Linux allows, so at most
// 7 digits: a longer number, a garbled pidfile, is no PID, and never
// reaches the shell's arithmetic or Go's strconv). A PID is alive when it exists in a state other than Z (zombie)
// or X (dead): a zombie has exited and only waits for its parent.
//
// The probes read /proc with the shell's own `read` and start no process:
// `ps -p PID` reads the /proc entry of every process on the host (tens of
// milliseconds on a busy one) and the stop loop probes 20 times a second.
// Hosts without /proc/self/stat fall back to ps.

// procReaders defines omni_uptime and omni_stat, the shell functions that
// read /proc, shared by the probes, the kill-tree (killTree) and the
// restart script's clock (clock): see shell.ProcReaders.
const procReaders = shell.ProcReaders

// clock defines omni_now, which sets omni_t to a count of centiseconds
// that only goes up: the host's uptime, or where there is no /proc, the
// clock's seconds × 100. It needs procReaders.
const clock = `if [ -r /proc/uptime ]; then
	omni_now() { omni_uptime; omni_t=$omni_up; }
else
	omni_now() { omni_t=$(($(date +%s) * 100)); }
fi`

// probes defines the functions of procReaders and clock, and omni_ps.
//
// omni_ps PID sets omni_st to the process's state letter (R, S, D, Z, …),
// omni_et to the seconds since it started and omni_pg to its process
// group, or returns 1 when there is
// no such process. A process this user may not look at (another user's,
// on a host whose /proc is mounted hidepid=2: its /proc entry is hidden,
// but `kill -0` says "not permitted", not "no such process") exists: its
// state is "?", its age and group unknown (omni_hidden, a fork, only
// when the /proc entry cannot be read). A process whose main thread has exited while others
// run shows Z, yet runs: omni_st is then the state of a live thread
// (omni_live_thread), Z only when none is left. After comm, /proc/PID/stat has the state, then the
// start time as the 20th field, in clock ticks since boot. Linux's
// user-visible clock tick (USER_HZ) is 100 on every architecture it still
// supports, which makes /proc/uptime's centiseconds and start ticks the
// same unit.
const probes = procReaders + `
` + clock + `
omni_hidden() {
	omni_e=$(LC_ALL=C; export LC_ALL; kill -0 "$1" 2>&1) && return 0
	case $omni_e in *ermitted*) return 0 ;; esac
	return 1
}
if [ -r /proc/self/stat ] && [ -r /proc/uptime ]; then
	omni_ps() {
		if ! omni_stat "/proc/$1/stat"; then
			omni_hidden "$1" || return 1
			omni_st=? omni_et= omni_pg=
			return 0
		fi
		set -f; set -- $omni_l; set +f
		[ "$#" -ge 20 ] || return 1
		omni_st=$1 omni_pg=$3
		shift 19
		omni_uptime
		omni_et=$(( (omni_up - $1) / 100 ))
		[ "$omni_et" -ge 0 ] || omni_et=0
		case $omni_st in Z*) omni_live_thread "$omni_sp" ;; esac
	}
	omni_live_thread() {
		for omni_f in /proc/$1/task/[0-9]*; do
			[ "${omni_f##*/}" != "$1" ] && omni_stat "$omni_f/stat" || continue
			omni_st=${omni_l%% *}
			case $omni_st in Z*|X*) ;; *) return ;; esac
		done
		omni_st=Z
	}
else
	omni_ps() {
		set -f; set -- "$1" $(ps -o stat=,etimes=,pgid= -p "$1" 2>/dev/null); set +f
		if [ -z "${2-}" ]; then
			omni_hidden "$1" || return 1
			omni_st=? omni_et= omni_pg=
			return 0
		fi
		omni_st=$2 omni_et=${3-} omni_pg=${4-}
	}
fi`

// findPID runs the status command and sets omni_rc (its exit code),
// omni_pid (the first word of its output when that is a plausible PID)
// and omni_took (how long it took, in centiseconds of the host's clock).
// Words are split on [[:space:]], which takes in the CR of a CRLF line
// (a pidfile written on Windows, output through a pty: "1234\r\n"), where
// the shell's field splitting (IFS) would keep it in the word; and
// unlike IFS it needs no CR in the script's text, nor a process to make
// one. omni_zero is 1 when that word is 0 (or 00…): the status command
// names no process, as `docker inspect -f '{{.State.Pid}}'` does for a
// container that is not running (exit 0): the service is not running,
// whatever the exit code.
// What the environment line (an environment file) prints is not part of
// the status command's output. An environment file that the shell cannot
// read (a syntax error ends the substitution's shell in dash and BusyBox)
// must not pass for a stopped service: the marker after it is then
// missing, and the script returns 2 without the report's lines, which
// omni reads as the script's failure, with the shell's error.
const findPID = probes + `
omni_now
omni_s0=$omni_t
omni_out=$(
{
@ENV@
} >/dev/null
echo omni-env-ok
@STATUS@
)
omni_rc=$?
omni_now
omni_took=$((omni_t - omni_s0))
case $omni_out in
omni-env-ok*) omni_out=${omni_out#omni-env-ok} ;;
*)
	echo "omni: the environment file of the service could not be read" >&2
	return 2
	;;
esac
omni_pid=${omni_out#"${omni_out%%[![:space:]]*}"}
omni_pid=${omni_pid%%[[:space:]]*}
omni_zero=
case $omni_pid in ""|*[!0]*) ;; *) omni_zero=1 ;; esac
case $omni_pid in ""|0*|1|*[!0-9]*|????????*) omni_pid= ;; esac
[ -z "$omni_pid" ] || [ "$omni_pid" -le 4194304 ] || omni_pid=
`

// statusScript prints rc= (status command exit code), took_cs= (how long
// it ran, in centiseconds), pid= (pid=0: it printed 0, no process) and,
// when a PID
// names a process, etimes= (seconds since it started) and stat= (its
// state letter, as ps prints it first). Like stopScript, it is the body
// of a function (findPID may return): Status calls it through
// asFunction, the restart script as its state read.
const statusScript = findPID + `echo "rc=$omni_rc"
echo "took_cs=$omni_took"
echo "pid=${omni_zero:+0}$omni_pid"
if [ -n "$omni_pid" ] && omni_ps "$omni_pid"; then
	echo "etimes=$omni_et"
	echo "stat=$omni_st"
fi
`

// stopScript prints pid=, rc= (the status command's exit code) and
// result=, one of not-running, stopped (after the graceful stop), killed
// (after SIGKILL), still-running, no-pid (nothing to signal and no stop
// command), term-failed (SIGTERM refused while the process lives),
// cannot-run (the status command could not run: exit 126 or 127, which
// says nothing of the service, so nothing is signalled or stopped), and
// returns 0 for the first three (the service is stopped), 3 for the
// others. Any other non-zero exit of the status command means not
// running. It is the body of a function
// (`return`, never `exit`): Stop calls it as a script of its own
// (asFunction), the restart script as its stop part; stop_rc= when a stop command ran, and
// stop_killed=1 when it was still running at the end of the grace period.
// @GRACE_CS@ is the grace period in centiseconds, rounded up. The waits
// end once that long has passed on the host's clock, or once their sleeps
// add up to it (where the clock counts whole seconds only), whichever
// comes first, so the wait never runs much past the grace period.
//
// The grace period bounds the stop command too: it runs in the background
// while the script waits for the service's process, and when the grace
// period is over it is killed with every process it started
// (omni_kill_tree), whether or not the service stopped. Then the
// service's main process gets SIGKILL with every process below it
// (omni_kill_tree: a daemon's workers that put themselves in sessions of
// their own, as postgres's backends do, would otherwise outlive it, found
// by nothing once their parent is gone), and its process group too when
// the process leads one (a service started with setsid: its workers), and
// so do the processes that were below it at the stop's start and have
// left its tree since (see below). A stop command that hangs thus costs the grace period, not the step's timeout,
// and leaves nothing running behind it.
//
// The service is its main process and every process below it at the
// stop's start, and the processes of a group the main process leads
// (omni_stop_group): when the main process is gone (it exited at SIGTERM
// without waiting for its workers, or it had died before the stop,
// leaving them), those still alive get SIGTERM (and SIGCONT, see
// stopBySignal), then SIGKILL at the end of the grace period, counted
// from the stop's start; the result is then stopped or killed as for the
// main process.
//
// The processes below it are noted at the stop's start (omni_note_below:
// each one's PID and start time, from /proc/PID/stat, so that a PID that
// names another process since is never signalled), found by their
// parents in /proc/PID/task/*/children, and where that cannot be read
// (a kernel without it) in `ps` (omni_procs). That they are noted matters
// when they are not in the main process's group: a main process started
// without setsid (`nohup app &`), or a worker that put itself in a session
// of its own, as PostgreSQL's backends do. A main process without
// children (the one read of its children files that decides whether to
// look further) costs nothing more.
//
// Looking for the group's members costs the host a `ps` (or a read of
// /proc), so it is done only when they may be there: when `kill -0 -PGID`
// finds a member in the group, and either the main process is gone
// altogether (reaped: then that member is another process) or it had
// children at the stop's start (where that cannot be read, always).
// Where init reaps late, an exited main process stays a zombie for a
// while and keeps its group alive by itself: a single-process service
// costs nothing more there either. The not-running path does it only
// for a PID whose process has exited: a PID the status command rejected
// that names a live process (a PID reused since) is never taken for the
// leader of the service's group. A service that does not lead its group
// shares it with whatever started it, which is never signalled: only
// what was below its main process is.
//
// omni_wait_gone sleeps 0.01 s, then twice as long each time, up to 0.2 s:
// a process that exits at once is seen at once, and one that takes a few
// seconds costs the host a dozen `sleep` processes, not one every 0.05 s.
// On a host that is short of CPU, that polling was a large part of a
// restart's cost. Without a PID, the status command is re-run every
// 0.25 s.
const stopScript = findPID + `echo "pid=$omni_pid"
echo "rc=$omni_rc"
case $omni_rc in 126|127)
	echo result=cannot-run
	return 3
	;;
esac
omni_spid=
omni_alive() {
	omni_ps "$1" || return 1
	case $omni_st in ""|Z*|X*) return 1 ;; esac
}
omni_busy() {
	if [ -n "$omni_pid" ] && omni_alive "$omni_pid"; then
		return 0
	fi
	if [ -n "$omni_gwait" ]; then
		omni_below_signal && return 0
		[ -n "$omni_grp" ] && omni_group_live "$omni_grp" && return 0
	fi
	[ -n "$omni_spid" ] && omni_alive "$omni_spid"
}
omni_group_live() {
	kill -0 "-$1" 2>/dev/null || return 1
	omni_gl=
	if command -v ps >/dev/null 2>&1; then
		omni_gl=$(ps -A -o pid= -o pgid= 2>/dev/null)
	fi
	if [ -n "$omni_gl" ]; then
		set -f; set -- "$1" $omni_gl; set +f
		omni_gid=$1
		shift
		while [ "$#" -ge 2 ]; do
			[ "$2" = "$omni_gid" ] && omni_alive "$1" && return 0
			shift 2
		done
		return 1
	fi
	omni_gid=$1
	for omni_f in /proc/[0-9]*/stat; do
		omni_stat "$omni_f" || continue
		set -f; set -- $omni_l; set +f
		[ "${3-}" = "$omni_gid" ] && omni_alive "$omni_sp" && return 0
	done
	return 1
}
omni_kids_of() {
	omni_cl=
	for omni_f in /proc/$1/task/*/children; do
		[ -r "$omni_f" ] || return 1
		omni_c=
		read -r omni_c <"$omni_f" 2>/dev/null
		omni_cl="$omni_cl${omni_c:+ $omni_c}"
	done
}
omni_has_children() {
	! omni_kids_of "$1" || [ -n "$omni_cl" ]
}
omni_start_of() {
	omni_stat "/proc/$1/stat" || return 1
	set -f; set -- $omni_l; set +f
	[ "$#" -ge 20 ] || return 1
	omni_st=$1
	shift 19
	omni_s0=$1
}
omni_note_below() {
	omni_below=
	[ -r /proc/self/stat ] && [ -r /proc/uptime ] || return 0
	omni_set=" $1 "
	omni_todo=" $1"
	while [ -n "$omni_todo" ]; do
		omni_todo=${omni_todo# }
		omni_p=${omni_todo%% *}
		omni_todo=${omni_todo#"$omni_p"}
		if omni_kids_of "$omni_p"; then
			for omni_c in $omni_cl; do
				case $omni_set in *" $omni_c "*) continue ;; esac
				omni_set="$omni_set$omni_c "
				omni_todo="$omni_todo $omni_c"
			done
		elif [ -e "/proc/$omni_p" ]; then
			omni_more=1
			while [ -n "$omni_more" ]; do
				omni_more=
				omni_procs omni_below_add
			done
			break
		fi
	done
	for omni_c in $omni_set; do
		[ "$omni_c" != "$1" ] && omni_start_of "$omni_c" || continue
		omni_below="$omni_below $omni_c:$omni_s0"
	done
}
omni_below_add() {
	case $omni_set in *" $1 "*) return ;; esac
	case $omni_set in *" $2 "*)
		omni_set="$omni_set$1 "
		omni_more=1
		;;
	esac
}
omni_below_signal() {
	omni_bl=1
	for omni_b in $omni_below; do
		omni_start_of "${omni_b%%:*}" && [ "$omni_s0" = "${omni_b#*:}" ] || continue
		case $omni_st in Z*) omni_live_thread "${omni_b%%:*}" ;; esac
		case $omni_st in Z*|X*) continue ;; esac
		omni_bl=0
		for omni_sig in "$@"; do
			kill "-$omni_sig" "${omni_b%%:*}" 2>/dev/null
		done
	done
	return "$omni_bl"
}
omni_stop_group() {
	if [ -n "$omni_grp" ]; then
		kill -TERM "-$omni_grp" 2>/dev/null
		kill -CONT "-$omni_grp" 2>/dev/null
	fi
	omni_below_signal TERM CONT
	omni_gwait=1
	omni_now
	omni_left=$((omni_t0 + @GRACE_CS@ - omni_t))
	if [ "$omni_left" -gt 0 ] && omni_wait_gone "$omni_left"; then
		echo result=stopped
		return 0
	fi
	[ -z "$omni_grp" ] || kill -KILL "-$omni_grp" 2>/dev/null
	omni_below_signal KILL
	if omni_wait_gone 500; then
		echo result=killed
		return 0
	fi
	echo result=still-running
	return 3
}
omni_wait_gone() {
	omni_now
	omni_end=$((omni_t + $1))
	omni_slept=0
	omni_nap=1
	while omni_busy; do
		omni_now
		[ "$omni_t" -ge "$omni_end" ] && return 1
		[ "$omni_slept" -ge "$1" ] && return 1
		[ "$omni_nap" -le "$(($1 - omni_slept))" ] || omni_nap=$(($1 - omni_slept))
		sleep "$((omni_nap / 100)).$((omni_nap / 10 % 10))$((omni_nap % 10))"
		omni_slept=$((omni_slept + omni_nap))
		omni_nap=$((omni_nap * 2))
		[ "$omni_nap" -le 20 ] || omni_nap=20
	done
}
` + killTree + `
omni_stop_done() {
	[ -n "$omni_spid" ] || return 0
	if omni_alive "$omni_spid"; then
		omni_kill_tree "$omni_spid"
		echo stop_killed=1
	fi
	wait "$omni_spid"
	echo "stop_rc=$?"
	omni_spid=
}
omni_now
omni_t0=$omni_t
omni_gwait=
omni_grp=
if [ "$omni_rc" -ne 0 ] || [ -n "$omni_zero" ] || { [ -n "$omni_pid" ] && ! omni_alive "$omni_pid"; }; then
	if [ -n "$omni_pid" ] && ! omni_alive "$omni_pid" && omni_group_live "$omni_pid"; then
		omni_grp=$omni_pid
		omni_stop_group
		return
	fi
	echo result=not-running
	return 0
fi
omni_kids=
omni_below=
if [ -n "$omni_pid" ]; then
	[ "$omni_pg" != "$omni_pid" ] || omni_grp=$omni_pid
	if omni_has_children "$omni_pid"; then
		omni_kids=1
		omni_note_below "$omni_pid"
	fi
fi
@STOP@omni_wait_gone @GRACE_CS@
omni_stop_done
if ! omni_alive "$omni_pid"; then
	if omni_below_signal || { [ -n "$omni_grp" ] && { [ -n "$omni_kids" ] || [ ! -e "/proc/$omni_pid" ]; } && omni_group_live "$omni_grp"; }; then
		omni_stop_group
		return
	fi
	echo result=stopped
	return 0
fi
omni_kill_tree "$omni_pid"
[ -z "$omni_grp" ] || kill -KILL "-$omni_grp" 2>/dev/null
omni_below_signal KILL
omni_gwait=1
if omni_wait_gone 500; then
	echo result=killed
else
	echo result=still-running
	return 3
fi
`

// killTree defines omni_procs and omni_kill_tree, which stops and kills a
// process and every process below it: see shell.KillTree. It needs
// procReaders. A process that left the tree (a daemon re-parented to init)
// is not found; it stays in the script's process group, which omni kills
// when the step's own timeout ends.
const killTree = shell.KillTree

// stopBySignal is the stop step without a stop command: SIGTERM, then
// SIGCONT, as systemd sends them: a process that is stopped (SIGSTOP, a
// debugger, an interrupted kill) acts on no other signal until it is
// continued, so its SIGTERM handler would never run, and the stop would
// end in SIGKILL after the grace period. The group members and the
// processes below the main one get the same pair (omni_stop_group).
const stopBySignal = `if [ -z "$omni_pid" ]; then
	echo result=no-pid
	return 3
fi
if kill -TERM "$omni_pid"; then
	kill -CONT "$omni_pid" 2>/dev/null
elif omni_alive "$omni_pid"; then
	echo result=term-failed
	return 3
fi
`

// stopByCommand is the stop step with a stop command, started in the
// background (see stopScript). Without a PID it can only watch the status
// command until it fails, then give the stop command the rest of the grace
// period to end. A status command that stops being able to run (exit 126
// or 127) says nothing of the service: the stop command still gets the
// rest of the grace period, and the result is cannot-run, with its rc=.
const stopByCommand = `(
@ENV@
@STOPCMD@
) >&2 &
omni_spid=$!
if [ -z "$omni_pid" ]; then
	omni_slept=0
	omni_now
	omni_end=$((omni_t + @GRACE_CS@))
	while :; do
		(
@ENV@
@STATUS@
		) >/dev/null 2>&1
		omni_rc=$?
		[ "$omni_rc" -eq 0 ] || break
		omni_now
		if [ "$omni_slept" -ge @GRACE_CS@ ] || [ "$omni_t" -ge "$omni_end" ]; then
			omni_stop_done
			echo result=still-running
			return 3
		fi
		sleep 0.25
		omni_slept=$((omni_slept + 25))
	done
	omni_now
	omni_left=$((omni_end - omni_t))
	[ "$omni_left" -le $((@GRACE_CS@ - omni_slept)) ] || omni_left=$((@GRACE_CS@ - omni_slept))
	[ "$omni_left" -le 0 ] || omni_wait_gone "$omni_left"
	omni_stop_done
	case $omni_rc in 126|127)
		echo "rc=$omni_rc"
		echo result=cannot-run
		return 3
		;;
	esac
	echo result=stopped
	return 0
fi
`

// steps is how many waits of step cover d (at least 0).
func steps(d, step time.Duration) int {
	if d <= 0 {
		return 0
	}
	return int((d + step - 1) / step)
}

// envLine exports the service's environment file, when it has one and
// it is readable, then sets and exports the OMNI_* variables (which win);
// extra are more NAME=already-quoted-value pairs.
func (m *commandManager) envLine(extra ...string) string {
	names := []string{"OMNI_HOST", "OMNI_SERVICE", "OMNI_ADDRESS"}
	assigns := []string{
		"OMNI_HOST=" + shell.Quote(m.host),
		"OMNI_SERVICE=" + shell.Quote(m.service),
		"OMNI_ADDRESS=" + shell.Quote(m.address),
	}
	for _, kv := range extra {
		name, _, _ := strings.Cut(kv, "=")
		names = append(names, name)
		assigns = append(assigns, kv)
	}
	line := strings.Join(assigns, " ") + "; export " + strings.Join(names, " ")
	if m.envFile != "" {
		f := shell.Quote(m.envFile)
		line = "if [ -r " + f + " ]; then set -a; . " + f + "; set +a; fi; " + line
	}
	return line
}

func (m *commandManager) startScript() string {
	return m.envLine() + "; " + m.commands.Start
}

func (m *commandManager) statusScript() string {
	return strings.NewReplacer(
		"@ENV@", m.envLine(),
		"@STATUS@", m.commands.Status,
	).Replace(statusScript)
}

func (m *commandManager) stopScript(grace time.Duration) string {
	stop := stopBySignal
	if strings.TrimSpace(m.commands.Stop) != "" {
		stop = stopByCommand
	}
	// Two passes over our own text first, then one over the user's
	// commands, so that their text is never rescanned.
	script := strings.Replace(stopScript, "@STOP@", stop, 1)
	return strings.NewReplacer(
		"@ENV@", m.envLine(),
		"@STATUS@", m.commands.Status,
		"@STOPCMD@", m.commands.Stop,
		"@GRACE_CS@", strconv.Itoa(steps(grace, 10*time.Millisecond)),
	).Replace(script)
}

// logsScript exports OMNI_LINES (0 means all) and OMNI_FOLLOW (1 or 0).
// Without a logs command it fails with a message on stderr.
func (m *commandManager) logsScript(lines int, follow bool) string {
	if strings.TrimSpace(m.commands.Logs) == "" {
		return "echo " + shell.Quote("omni: service "+m.service+" has no logs command") + " >&2; exit 2"
	}
	if lines < 0 {
		lines = 0
	}
	followFlag := "0"
	if follow {
		followFlag = "1"
	}
	return m.envLine("OMNI_LINES="+strconv.Itoa(lines), "OMNI_FOLLOW="+followFlag) + "; " + m.commands.Logs
}
