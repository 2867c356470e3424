package manager_test

import (
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/omni-fleet/omni/engine/manager"
	"github.com/omni-fleet/omni/inventory"
)

// procRuns says whether pid exists and is neither a zombie nor dead (read
// in Go, not with the shell's `read`).
func procRuns(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	s := string(b)
	s = s[strings.LastIndex(s, ") ")+2:]
	return s != "" && s[0] != 'Z' && s[0] != 'X'
}

// procsWithArgs lists the running processes whose command line is exactly
// argv.
func procsWithArgs(argv ...string) []int {
	want := strings.Join(argv, "\x00") + "\x00"
	var pids []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err == nil && string(b) == want && procRuns(pid) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// A restart whose start ends at once leaves no watchdog `sleep START_T`
// behind: the watchdog's TERM can come before it knows its sleep's PID.
func TestCommandRestartWatchdogLeavesNoSleep(t *testing.T) {
	m := commandManager(t, inventory.Commands{Start: ":", Status: "false", Stop: ":"})
	for range 40 {
		restart(t, m, manager.RestartOptions{Grace: time.Second, StartTimeout: 47310 * time.Millisecond})
	}
	time.Sleep(200 * time.Millisecond)
	if left := procsWithArgs("sleep", "47.31"); len(left) > 0 {
		for _, p := range left {
			syscall.Kill(p, syscall.SIGKILL)
		}
		t.Errorf("%d watchdog sleeps left behind after 40 restarts: %v", len(left), left)
	}
}
