package shell

// ProcReaders defines the shell functions that read /proc with the
// shell's own `read`, starting no process.
//
// omni_uptime sets omni_up to the host's uptime in centiseconds, from
// /proc/uptime ("12345.67 …").
//
// omni_stat FILE reads a /proc/PID/stat line, "pid (comm) state ppid …",
// and sets omni_sp to its PID and omni_l to what follows comm ("state
// ppid pgrp …"), or returns 1 when it cannot be read (the process is
// gone). comm may hold spaces, parentheses and newlines (it is the
// executable's file name, or what the process wrote to
// /proc/self/comm): what follows it is on the file's last line, after its
// last ") ".
const ProcReaders = `omni_uptime() {
	read -r omni_up omni_l </proc/uptime
	omni_up=${omni_up%.*}${omni_up#*.}
}
omni_stat() {
	{ read -r omni_l && omni_sp=${omni_l%% *} && while read -r omni_x; do omni_l=$omni_x; done; } 2>/dev/null <"$1" || return 1
	omni_l=${omni_l##*") "}
}`

// KillTree defines omni_procs FN, which calls FN PID PPID for every
// process of the host, and omni_kill_tree PID, which stops (SIGSTOP) PID
// and every process below it, parent before children so that none can fork a
// process it would miss, then kills them all (SIGKILL). The processes are
// found by their parent PID, as `ps -A` lists them: one process a pass,
// where reading every /proc/PID/stat with the shell's `read` (one byte a
// system call, in dash) took seconds on a host with thousands of
// processes. Where there is no ps, or it lists nothing, /proc is read. It
// needs ProcReaders.
// A process that left the tree (a daemon re-parented to init) is not
// found. omni_kill_tree's status is its kill's: not 0 when a process
// could not be killed (one of root's, under sudo).
const KillTree = `omni_procs() {
	omni_fn=$1
	omni_list=
	if command -v ps >/dev/null 2>&1; then
		omni_list=$(ps -A -o pid= -o ppid= 2>/dev/null)
	fi
	if [ -n "$omni_list" ]; then
		set -f; set -- $omni_list; set +f
		while [ "$#" -ge 2 ]; do
			"$omni_fn" "$1" "$2"
			shift 2
		done
	elif [ -r /proc/self/stat ]; then
		for omni_f in /proc/[0-9]*/stat; do
			omni_stat "$omni_f" || continue
			set -f; set -- $omni_l; set +f
			"$omni_fn" "$omni_sp" "${2-}"
		done
	fi
}
omni_kill_tree() {
	omni_tree=" $1 "
	kill -STOP "$1" 2>/dev/null
	omni_more=1
	while [ -n "$omni_more" ]; do
		omni_more=
		omni_procs omni_tree_add
	done
	kill -KILL $omni_tree 2>/dev/null
}
omni_tree_add() {
	case $omni_tree in *" $1 "*) return ;; esac
	case $omni_tree in *" $2 "*)
		omni_tree="$omni_tree$1 "
		kill -STOP "$1" 2>/dev/null
		omni_more=1
		;;
	esac
}`
