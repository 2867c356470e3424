// Package proctest looks at this machine's processes for tests: whether
// one runs, which run a given command line, and ends them.
package proctest

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// Alive reports whether pid is a live process: not gone, not a zombie
// (on a machine whose PID 1 does not reap, an ended orphan stays one).
func Alive(pid int) bool {
	if pid <= 0 {
		return false
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	s := string(b)
	s = s[strings.LastIndex(s, ") ")+2:]
	return s != "" && s[0] != 'Z' && s[0] != 'X'
}

// WithArgs lists the live processes whose command line is exactly argv.
func WithArgs(argv ...string) []int {
	want := strings.Join(argv, "\x00") + "\x00"
	var pids []int
	paths, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range paths {
		if b, err := os.ReadFile(p); err == nil && string(b) == want {
			if pid, err := strconv.Atoi(filepath.Base(filepath.Dir(p))); err == nil && Alive(pid) {
				pids = append(pids, pid)
			}
		}
	}
	return pids
}

// Kill sends SIGKILL to the live processes whose command line is exactly
// argv (a test's clean-up).
func Kill(argv ...string) {
	for _, pid := range WithArgs(argv...) {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
}
