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
// not count. Without /proc it asks kill(pid, 0).
func processAlive(pid int, start uint64) bool {
	if pid <= 0 {
		return false
	}
	state, ticks, err := procStat(pid)
	if errors.Is(err, os.ErrNotExist) {
		if _, err := os.Stat("/proc/self/stat"); err == nil {
			return false // /proc works: there is no such process
		}
	}
	if err != nil {
		err := syscall.Kill(pid, 0)
		return err == nil || errors.Is(err, syscall.EPERM)
	}
	if state == 'Z' || state == 'X' || state == 'x' {
		return false
	}
	return start == 0 || ticks == start
}

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
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
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
