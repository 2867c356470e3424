package cli

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/omni-fleet/omni/internal/testkit/historytest"
	"github.com/omni-fleet/omni/internal/testkit/testfleet"
	"github.com/omni-fleet/omni/registry"
)

// TestUnusableRegistryTouchesNoHost: with a registry file that is cut to
// half, has a flipped byte in its freelist, in a tree page or in a record
// (which omni used to find only after the restart), is read-only,
// sits in a read-only directory, or is held open by another process, every
// command that changes or reads services (restart, start, stop, a fleet
// restart, status, history) ends with the registry's exit code, a message
// naming the file and saying what to do, no panic, and nothing touched:
// the services' PIDs on the hosts are unchanged, the file is unchanged.
// (Before, a file cut to half killed omni with SIGBUS inside bbolt, and a
// damaged freelist panicked with exit 2 without naming the file.)
func TestUnusableRegistryTouchesNoHost(t *testing.T) {
	bin := buildOmni(t)
	f := testfleet.Start(t, testfleet.Options{BastionAddr: "127.0.1.141", WorkerAddr: "127.0.1.142"})
	mustRun(t, f, "service", "start", "primary-bastion", "network-agent")
	mustRun(t, f, "service", "start", "primary-bastion", "api-gateway")
	mustRun(t, f, "service", "start", "worker1", "network-agent")
	mustRun(t, f, "service", "restart", "primary-bastion", "api-gateway")
	pids := func() string {
		return fmt.Sprint(f.PID("primary-bastion", "network-agent"), f.PID("primary-bastion", "api-gateway"), f.PID("worker1", "network-agent"))
	}
	before := pids()

	// A real registry with records and events: the fleet's own, with a
	// longer history, so that it spans many pages.
	dir := t.TempDir()
	long := filepath.Join(dir, "long.db")
	data, err := os.ReadFile(filepath.Join(f.Dir, "state.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(long, data, 0o600); err != nil {
		t.Fatal(err)
	}
	reg, err := registry.OpenBolt(long)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 200 {
		historytest.Record(t, reg, registry.Event{Host: "primary-bastion", Service: "api-gateway", Command: "restart primary-bastion api-gateway", Operator: "alice@ops",
			Result: "failed", Error: fmt.Sprintf("health: attempt %d: status 503", i)})
	}
	reg.Close()
	good, err := os.ReadFile(long)
	if err != nil {
		t.Fatal(err)
	}
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	ps, root, freelist, hwm := boltLayout(t, good)
	if len(good)/2 >= int(hwm)*ps {
		t.Fatalf("half of the registry (%d bytes) holds all its %d pages", len(good)/2, hwm)
	}
	flip := func(page uint64, at int) []byte {
		b := bytes.Clone(good)
		b[int(page)*ps+at] ^= 0xFF
		return b
	}

	// A record whose JSON no longer reads: a flipped byte in its value
	// (in every copy of it, the live one and those in free pages).
	rec := []byte(`{"host":"primary-bastion","service":"api-gateway","state":`)
	badRecord := bytes.Clone(good)
	n := 0
	for at := 0; ; n++ {
		i := bytes.Index(badRecord[at:], rec)
		if i < 0 {
			break
		}
		badRecord[at+i] ^= 0xFF
		at += i + 1
	}
	if n == 0 {
		t.Fatalf("no record of api-gateway in the registry")
	}

	type regCase struct {
		name, path string
		code       int
		says       []string
	}
	damagedHint := []string{" is damaged (", "restore it from a backup", ".corrupt", "--registry"}
	cases := []regCase{
		{"cut to half", write("half.db", good[:len(good)/2]), ExitUsage, damagedHint},
		{"freelist page flipped", write("freelist.db", flip(freelist, 8)), ExitUsage, damagedHint},
		{"root page flipped", write("root.db", flip(root, 0)), ExitUsage, damagedHint},
		{"record does not read", write("record.db", badRecord), ExitUsage, damagedHint},
		{"read-only file", write("readonly.db", good), ExitUsage, []string{" is not writable (", "--registry"}},
		{"read-only directory", filepath.Join(dir, "locked", "registry.db"), ExitUsage, []string{" is not writable (", "--registry"}},
		{"busy", write("busy.db", good), ExitRefused, []string{" is busy: another process has kept it open", "try again"}},
	}
	readOnly(t, cases[4].path)
	if err := os.Mkdir(filepath.Dir(cases[5].path), 0o700); err != nil {
		t.Fatal(err)
	}
	readOnly(t, filepath.Dir(cases[5].path))
	holder, err := bolt.Open(cases[6].path, 0o600, nil) // another process's hold, as far as omni can tell
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close()
	snapshot := map[string][]byte{}
	for _, c := range cases {
		snapshot[c.path], _ = os.ReadFile(c.path)
	}

	commands := [][]string{
		{"service", "restart", "primary-bastion", "api-gateway", "--yes"},
		{"service", "start", "primary-bastion", "api-gateway"},
		{"service", "stop", "primary-bastion", "api-gateway", "--yes"},
		{"service", "restart", "all", "network-agent", "--yes"},
		{"service", "status", "primary-bastion", "api-gateway"},
		{"service", "history", "primary-bastion", "api-gateway"},
	}
	// Every run at once: the busy ones wait out omni's 5 s each.
	var wg sync.WaitGroup
	var mu sync.Mutex
	var failures []string
	for _, c := range cases {
		for _, args := range commands {
			wg.Go(func() {
				cmd := exec.Command(bin, append([]string{"-i", f.Inventory, "--ssh-config", "none", "--registry", c.path}, args...)...)
				var stdout, stderr bytes.Buffer
				cmd.Stdout, cmd.Stderr = &stdout, &stderr
				start := time.Now()
				err := cmd.Run()
				code := -1
				var exit *exec.ExitError
				if err == nil {
					code = 0
				} else if errors.As(err, &exit) {
					code = exit.ExitCode() // -1 when killed by a signal (SIGBUS)
				}
				msg := stderr.String()
				ok := code == c.code && strings.Contains(msg, "registry "+c.path+" ") && !strings.Contains(msg, "goroutine ")
				for _, s := range c.says {
					ok = ok && strings.Contains(msg, s)
				}
				if !ok {
					mu.Lock()
					failures = append(failures, fmt.Sprintf("%s: omni %s: exit %d (%v) after %s, want %d naming the file\nstderr:\n%.2000s",
						c.name, strings.Join(args, " "), code, err, time.Since(start).Round(time.Millisecond), c.code, msg))
					mu.Unlock()
				}
			})
		}
	}
	wg.Wait()
	for _, fail := range failures {
		t.Error(fail)
	}
	if after := pids(); after != before {
		t.Errorf("a host was touched: PIDs %s before, %s after", before, after)
	}
	for _, c := range cases {
		if now, _ := os.ReadFile(c.path); !bytes.Equal(now, snapshot[c.path]) {
			t.Errorf("%s: the registry file was changed", c.name)
		}
	}
	if t.Failed() {
		return
	}
	// The way out the message gives: move the damaged file aside; omni
	// starts a new registry there and works.
	half := cases[0].path
	if err := os.Rename(half, half+".corrupt"); err != nil {
		t.Fatal(err)
	}
	if out, errOut, code := omni(t, f, "--registry", half, "service", "restart", "primary-bastion", "api-gateway", "--yes"); code != 0 {
		t.Fatalf("after mv: exit %d\n%s\n%s", code, out, errOut)
	}
}

// boltLayout reads a bbolt file's page size and, from its newer meta page,
// the root and freelist page ids and the high-water mark.
func boltLayout(t *testing.T, data []byte) (pageSize int, root, freelist, hwm uint64) {
	t.Helper()
	le := binary.LittleEndian
	meta := func(off int) (ps int, root, freelist, hwm, txid uint64) {
		m := data[off+16:]
		return int(le.Uint32(m[8:])), le.Uint64(m[16:]), le.Uint64(m[32:]), le.Uint64(m[40:]), le.Uint64(m[48:])
	}
	ps, root, freelist, hwm, tx0 := meta(0)
	if _, r1, f1, h1, tx1 := meta(ps); tx1 > tx0 {
		root, freelist, hwm = r1, f1, h1
	}
	if ps < 1024 || root < 2 || freelist < 2 || int(max(root, freelist)+1)*ps > len(data) {
		t.Fatalf("not a bbolt file: page size %d, root %d, freelist %d, %d bytes", ps, root, freelist, len(data))
	}
	return ps, root, freelist, hwm
}

// readOnly makes path unwritable, for root too (the immutable attribute),
// until the test ends.
func readOnly(t *testing.T, path string) {
	t.Helper()
	if os.Geteuid() != 0 {
		if err := os.Chmod(path, 0o500); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.Chmod(path, 0o700) })
		return
	}
	if out, err := exec.Command("chattr", "+i", path).CombinedOutput(); err != nil {
		t.Fatalf("chattr +i %s: %v: %s", path, err, out)
	}
	t.Cleanup(func() { exec.Command("chattr", "-i", path).Run() })
}
