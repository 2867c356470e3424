package cli

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/omni-fleet/omni/internal/testkit/testfleet"
)

// twentyHosts writes an inventory of 20 hosts, h01..h20, each reached
// directly (its own SSH connection) on the fleet's worker sshd, each
// running a small service: a sleep whose PID is in the fleet's run
// directory (the fleet's cleanup kills it).
func twentyHosts(t *testing.T, f *testfleet.Fleet) {
	t.Helper()
	pidfile := filepath.Join(f.RunDir, `"$OMNI_HOST.$OMNI_SERVICE.pid"`)
	var b strings.Builder
	fmt.Fprintf(&b, "version: 1\ndefaults:\n  user: %s\n  identity_file: %s\n  known_hosts: %s\n  manager: command\n  connect_timeout: 5s\n  stop_grace: 5s\n",
		f.Worker.User, f.Worker.IdentityFile, f.KnownHosts)
	fmt.Fprintf(&b, "registry:\n  path: %s\nhosts:\n", filepath.Join(f.Dir, "state.json"))
	for i := 1; i <= 20; i++ {
		fmt.Fprintf(&b, "  h%02d: {address: %s, port: %d, roles: [app]}\n", i, f.Worker.Addr, f.Worker.Port)
	}
	fmt.Fprintf(&b, "roles:\n  app: [sleeper]\nservices:\n  sleeper:\n    commands:\n")
	fmt.Fprintf(&b, "      start: 'setsid sleep 600 >/dev/null 2>&1 </dev/null & echo $! > %s'\n", pidfile)
	fmt.Fprintf(&b, "      status: 'cat %s'\n", pidfile)
	fmt.Fprintf(&b, "    health: {process: true, retries: 20, interval: 50ms}\n")
	f.Inventory = filepath.Join(f.Dir, "twenty.yaml")
	if err := os.WriteFile(f.Inventory, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

// openFDs counts this process's open file descriptors (omni runs in it).
func openFDs() int {
	entries, _ := os.ReadDir("/proc/self/fd")
	return len(entries)
}

// sessionProcs counts the processes under the sshd with PID root: one per
// connection (sshd's session process), the remote shells and commands,
// not the services they started (whose command line names runDir).
func sessionProcs(root int, runDir string) int {
	parent := map[int]int{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		fields := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
		if len(fields) < 2 || fields[0] == "Z" {
			continue
		}
		if cmd, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline")); strings.Contains(string(cmd), runDir) {
			continue
		}
		parent[pid], _ = strconv.Atoi(fields[1])
	}
	n := 0
	for pid := range parent {
		for p, hops := parent[pid], 0; p > 1 && hops < 50; p, hops = parent[p], hops+1 {
			if p == root {
				n++
				break
			}
		}
	}
	return n
}

// sampler is omni's stderr: at the finish lines of h05 and h15 it reads the
// open FDs and the hosts' session processes, once they settle (a released
// connection closes in the background).
type sampler struct {
	mu      sync.Mutex
	buf     strings.Builder
	sample  func() [2]int
	at      map[string][2]int // host -> {fds, session processes} after it finished
	pending string
}

var finishLine = regexp.MustCompile(`Z (h\d\d): done in`)

func (s *sampler) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.buf.Write(p)
	s.pending += string(p)
	for {
		i := strings.IndexByte(s.pending, '\n')
		if i < 0 {
			break
		}
		line := s.pending[:i]
		s.pending = s.pending[i+1:]
		if m := finishLine.FindStringSubmatch(line); m != nil && (m[1] == "h05" || m[1] == "h15") {
			// The lowest of a few readings over 300 ms: what a released
			// connection leaves once closed.
			low := s.sample()
			for k := 0; k < 6; k++ {
				time.Sleep(50 * time.Millisecond)
				v := s.sample()
				low = [2]int{min(low[0], v[0]), min(low[1], v[1])}
			}
			s.at[m[1]] = low
		}
	}
	return len(p), nil
}

// TestRollingRestartReleasesEachHost: a rolling restart of 20 hosts lets
// each host go once it is done: its connection closed and its remote
// shell ended. omni's open FDs and the session processes on the hosts
// after host 15 are no higher than after host 5 (plus a small constant),
// instead of growing with every finished host. Not parallel: it counts
// this process's FDs.
func TestRollingRestartReleasesEachHost(t *testing.T) {
	f := testfleet.Start(t, testfleet.Options{BastionAddr: "127.0.1.91", WorkerAddr: "127.0.1.92"})
	twentyHosts(t, f)
	mustRun(t, f, "service", "start", "app", "sleeper")
	before := openFDs()
	s := &sampler{at: map[string][2]int{}, sample: func() [2]int {
		return [2]int{openFDs(), sessionProcs(f.Worker.PID, f.RunDir)}
	}}
	var out strings.Builder
	code := Run(context.Background(), []string{"-i", f.Inventory, "service", "restart", "app", "sleeper", "--rolling", "--min-ready", "0"},
		Streams{In: strings.NewReader(""), Out: &out, Err: s, NoColor: true})
	if code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out.String(), s.buf.String())
	}
	h5, h15 := s.at["h05"], s.at["h15"]
	t.Logf("after h05: %d fds, %d session processes; after h15: %d fds, %d session processes (%d fds before the run)", h5[0], h5[1], h15[0], h15[1], before)
	const slack = 3
	if h15[0] > h5[0]+slack || h15[1] > h5[1]+slack {
		t.Fatalf("connections held: after h05 %d fds and %d session processes on the hosts, after h15 %d and %d: want no more than %d more",
			h5[0], h5[1], h15[0], h15[1], slack)
	}
	// And once the run is over, nothing is left on the hosts.
	deadline := time.Now().Add(5 * time.Second)
	for sessionProcs(f.Worker.PID, f.RunDir) > 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if n := sessionProcs(f.Worker.PID, f.RunDir); n > 0 {
		t.Fatalf("%d session processes left on the hosts after the run", n)
	}
}
