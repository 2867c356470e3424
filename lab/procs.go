package lab

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// This file finds and stops the lab's processes through /proc (Linux).

// procState returns the state letter of pid from /proc/PID/stat ("R",
// "S", "Z", ...), or "" when there is no such process.
func procState(pid int) string {
	if pid <= 0 {
		return ""
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return ""
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return ""
	}
	fields := strings.Fields(string(b[i+1:]))
	if len(fields) == 0 {
		return ""
	}
	return fields[0]
}

// alive reports whether pid is a running process: it exists and is
// neither a zombie (it has exited, only waiting for its parent) nor dead.
func alive(pid int) bool {
	switch procState(pid) {
	case "", "Z", "X", "x":
		return false
	}
	return true
}

// cmdline returns the arguments pid was started with (nil if unknown).
func cmdline(pid int) []string {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	if err != nil || len(b) == 0 {
		return nil
	}
	return strings.Split(strings.TrimSuffix(string(b), "\x00"), "\x00")
}

// hasEnv reports whether pid's environment holds exactly the entry kv
// ("NAME=value"). Processes of other users cannot be read: false.
func hasEnv(pid int, kv string) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/environ")
	if err != nil {
		return false
	}
	for _, entry := range bytes.Split(b, []byte{0}) {
		if string(entry) == kv {
			return true
		}
	}
	return false
}

// serveArgs are the arguments of the lab's serve process after the program.
func serveArgs(dir string) []string { return []string{"lab", "serve", "--dir", dir} }

// isServe reports whether pid is the running serve process of the lab in dir.
func isServe(pid int, dir string) bool {
	if !alive(pid) {
		return false
	}
	args := cmdline(pid)
	return len(args) > 1 && slices.Equal(args[1:], serveArgs(dir))
}

// isLabService reports whether pid is a running `omni lab service` that
// was given pidfile: a PID read from a pidfile may have been reused by an
// unrelated process since.
func isLabService(pid int, pidfile string) bool {
	if !alive(pid) {
		return false
	}
	args := cmdline(pid)
	if len(args) < 3 || args[1] != "lab" || args[2] != "service" {
		return false
	}
	for i, a := range args {
		if (a == "--pidfile" && i+1 < len(args) && args[i+1] == pidfile) || a == "--pidfile="+pidfile {
			return true
		}
	}
	return false
}

// readPID returns the PID in a pidfile, 0 when there is none.
func readPID(path string) int {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	fields := strings.Fields(string(b))
	if len(fields) == 0 {
		return 0
	}
	pid, err := strconv.Atoi(fields[0])
	if err != nil || pid <= 1 {
		return 0
	}
	return pid
}

// labProcesses lists the running processes of the lab in dir, except this
// one: those whose environment has OMNI_LAB_DIR=dir (serve, and everything
// started through the lab's SSH, services included), and the services
// named by the pidfiles under dir/run.
func labProcesses(dir string) []int {
	self := os.Getpid()
	want := EnvDir + "=" + dir
	seen := map[int]bool{}
	var pids []int
	add := func(pid int) {
		if pid != self && !seen[pid] {
			seen[pid] = true
			pids = append(pids, pid)
		}
	}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid <= 1 {
			continue
		}
		if hasEnv(pid, want) && alive(pid) {
			add(pid)
		}
	}
	pidfiles, _ := filepath.Glob(filepath.Join(dir, runDir, "*.pid"))
	for _, pf := range pidfiles {
		if pid := readPID(pf); pid > 1 && isLabService(pid, pf) {
			add(pid)
		}
	}
	slices.Sort(pids)
	return pids
}

// terminate sends SIGTERM to every pid, waits up to grace for them to end,
// SIGKILLs those left and waits (up to 5 s) for them to go. It returns the
// PIDs that needed SIGKILL and those still alive after it all.
func terminate(pids []int, grace time.Duration) (killed, left []int) {
	for _, pid := range pids {
		syscall.Kill(pid, syscall.SIGTERM)
	}
	left = waitGone(pids, grace)
	if len(left) == 0 {
		return nil, nil
	}
	killed = slices.Clone(left)
	for _, pid := range left {
		syscall.Kill(pid, syscall.SIGKILL)
	}
	return killed, waitGone(left, 5*time.Second)
}

// waitGone polls until none of pids is alive, or timeout passes; it
// returns those still alive.
func waitGone(pids []int, timeout time.Duration) []int {
	deadline := time.Now().Add(timeout)
	for {
		var left []int
		for _, pid := range pids {
			if alive(pid) {
				left = append(left, pid)
			}
		}
		if len(left) == 0 || time.Now().After(deadline) {
			return left
		}
		pids = left
		time.Sleep(20 * time.Millisecond)
	}
}
