package registry

import (
	"bytes"
	"errors"
	"os"
	"strconv"
	"syscall"
)

// processAlive says whether process pid of this machine is running: it
// exists, is not a zombie, and, when start is not 0, started at start (clock
// ticks since boot), so a PID the kernel gave to another process since does
// not count.
//
// Where /proc cannot tell, kill(pid, 0) does: without /proc, and where
// /proc hides the processes of other users (mounted hidepid=1 or 2, a
// common hardening: their /proc/PID is missing or unreadable). It answers
// EPERM for another user's process, which is alive, and ESRCH when there
// is no such process in this PID namespace: a holder in another one (a
// container that shares the hostname) counts as gone, as docs/registry.md
// says. Such a process's start time cannot be read, so a PID reused by
// another user's process passes for the holder until it ends: a lock held
// too long, never two runs at once.
func processAlive(pid int, start uint64) bool {
	if pid <= 0 {
		return false
	}
	state, ticks, err := procStat(pid)
	if err != nil {
		return signalable(pid)
	}
	if state == 'Z' || state == 'X' || state == 'x' {
		return false
	}
	return start == 0 || ticks == start
}

// signalable says whether kill(pid, 0) finds process pid, this user's or
// another's.
func signalable(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// procDir is where the processes' stat files are: /proc, or in tests a
// directory that shows none, as /proc mounted hidepid=2 does for the
// processes of other users.
var procDir = "/proc"

// procStart is the start time of process pid (clock ticks since boot), or 0.
func procStart(pid int) uint64 {
	_, ticks, err := procStat(pid)
	if err != nil {
		return 0
	}
	return ticks
}

// procStat reads the state and the start time of pid from /proc/PID/stat.
func procStat(pid int) (state byte, start uint64, err error) {
	b, err := os.ReadFile(procDir + "/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, 0, err
	}
	// "PID (COMM) STATE PPID ...": COMM may hold spaces and parentheses.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, 0, errors.New("malformed stat")
	}
	f := bytes.Fields(b[i+1:])
	if len(f) < 20 {
		return 0, 0, errors.New("malformed stat")
	}
	// f[0] is field 3 (state); field 22 is starttime.
	start, err = strconv.ParseUint(string(f[19]), 10, 64)
	if err != nil {
		return 0, 0, err
	}
	return f[0][0], start, nil
}
