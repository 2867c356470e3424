package lab

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// DownResult says what Down stopped and removed; `omni lab down --output
// json` prints it, a stable document like StatusReport:
//
//	{"dir": "/home/me/.local/state/omni/lab", "found": true, "serve_pid": 4242,
//	 "stopped": [4242, 5151, ...], "killed": [], "removed": true}
type DownResult struct {
	Dir string `json:"dir"`
	// Found is false when there was no lab in Dir: no lab files and no
	// process of one.
	Found bool `json:"found"`
	// ServePID is the serve process stopped, 0 if none was running.
	ServePID int `json:"serve_pid"`
	// Stopped lists every process stopped, serve included; Killed those
	// that needed SIGKILL after the grace period.
	Stopped []int `json:"stopped"`
	Killed  []int `json:"killed"`
	// Removed is true when the lab's files were removed.
	Removed bool `json:"removed"`
}

// DownGrace is how long Down waits after SIGTERM before SIGKILL.
const DownGrace = 3 * time.Second

// Down stops every process of the lab in dir: its serve process (by the
// PID lab.json records, once /proc shows it is ours), every process whose
// environment has OMNI_LAB_DIR=dir (everything run through the lab's SSH,
// services included) and the services of the pidfiles under dir/run. Each
// gets SIGTERM, then SIGKILL after grace. Then it removes the lab's files,
// and dir when nothing else is left in it. With no lab in dir it does
// nothing and says so (Found false).
func Down(dir string, grace time.Duration) (*DownResult, error) {
	dir, err := absDir(dir)
	if err != nil {
		return nil, err
	}
	res := &DownResult{Dir: dir, Stopped: []int{}, Killed: []int{}}
	if fi, err := os.Stat(dir); err == nil && !fi.IsDir() {
		return nil, &UsageError{fmt.Sprintf("%s is not a lab directory", dir)}
	}
	st, stateErr := readState(dir)
	for _, name := range labFiles {
		if _, err := os.Stat(filepath.Join(dir, name)); err == nil && name != lockFile {
			res.Found = true
		}
	}

	// Serve first, so that nothing new starts through the lab's SSH; it
	// kills the commands its sessions still run as it stops.
	if stateErr == nil && isServe(st.ServePID, dir) {
		res.ServePID = st.ServePID
		killed, left := terminate([]int{st.ServePID}, grace)
		res.Stopped = append(res.Stopped, st.ServePID)
		res.Killed = append(res.Killed, killed...)
		if len(left) > 0 {
			return res, fmt.Errorf("lab serve (pid %d) does not stop", st.ServePID)
		}
	}
	// Then the rest, until none is left: a process may start another as
	// it goes.
	var left []int
	for range 5 {
		pids := labProcesses(dir)
		if len(pids) == 0 {
			left = nil
			break
		}
		var killed []int
		killed, left = terminate(pids, grace)
		res.Stopped = append(res.Stopped, pids...)
		res.Killed = append(res.Killed, killed...)
	}
	res.Found = res.Found || len(res.Stopped) > 0
	slices.Sort(res.Stopped)
	res.Stopped = slices.Compact(res.Stopped)
	if len(left) > 0 {
		return res, fmt.Errorf("lab processes still running after SIGKILL: %v", left)
	}
	if !res.Found {
		// Nothing of a lab: leave whatever else is in dir alone.
		if _, err := os.Stat(filepath.Join(dir, lockFile)); err == nil {
			os.Remove(filepath.Join(dir, lockFile))
			os.Remove(dir) // only when empty
		}
		return res, nil
	}
	if err := removeLabFiles(dir, false); err != nil {
		return res, fmt.Errorf("removing the lab's files: %w", err)
	}
	res.Removed = true
	return res, nil
}
