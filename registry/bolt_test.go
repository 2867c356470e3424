package registry

import (
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

func boltKit(t *testing.T) storeKit {
	path := filepath.Join(t.TempDir(), "state", "registry.db")
	return storeKit{
		open: func(t *testing.T) Store {
			s, err := OpenBolt(path)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		},
		spec:    "bolt:" + path,
		reclaim: 3 * time.Second, // the PID is gone at once; SIGKILL lands within milliseconds
		check: func(t *testing.T) {
			db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			must(t, db.View(func(tx *bolt.Tx) error {
				for err := range tx.Check() {
					return err
				}
				return nil
			}))
		},
	}
}

func TestBoltStore(t *testing.T) {
	t.Parallel()
	runStoreTests(t, boltKit)
}

func TestOpenDefault(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("XDG_STATE_HOME", dir)
	p, err := DefaultPath()
	if want := filepath.Join(dir, "omni", "registry.db"); p != want || err != nil {
		t.Fatalf("DefaultPath = %s, %v; want %s", p, err, want)
	}
	s, err := Open(context.Background(), "", nil)
	must(t, err)
	defer s.Close()
	if b, ok := s.(*Bolt); !ok || b.Path() != p {
		t.Fatalf("Open = %T %v", s, s)
	}
	if _, err := os.Stat(p); err != nil {
		t.Fatal(err)
	}
}

func TestBoltCorruptFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage.db")
	os.WriteFile(garbage, []byte(strings.Repeat("not a database ", 1000)), 0o600)
	short := filepath.Join(dir, "short.db")
	os.WriteFile(short, []byte("xx"), 0o600)
	jsonFile := filepath.Join(dir, "state.db")
	os.WriteFile(jsonFile, []byte(`{"version": 1, "records": []}`), 0o600)

	// A real store whose two meta pages are then overwritten.
	damaged := filepath.Join(dir, "damaged.db")
	s, err := OpenBolt(damaged)
	must(t, err)
	must(t, s.Put(Record{Host: "h", Service: "s", State: "running"}))
	s.Close()
	f, err := os.OpenFile(damaged, os.O_WRONLY, 0)
	must(t, err)
	f.WriteAt(make([]byte, 2*os.Getpagesize()), 0)
	f.Close()

	for path, want := range map[string]string{
		garbage:  "is damaged",
		short:    "is damaged",
		damaged:  "is damaged",
		jsonFile: "is a JSON registry of an older omni",
	} {
		_, err := OpenBolt(path)
		if err == nil || !strings.Contains(err.Error(), path+" "+want) || !strings.Contains(err.Error(), "move it aside") {
			t.Errorf("OpenBolt(%s): %v", filepath.Base(path), err)
		}
	}
}

func TestBoltReadOnlyFile(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "registry.db")
	s, err := OpenBolt(path)
	must(t, err)
	s.Close()
	must(t, os.Chmod(path, 0o400))
	if os.Geteuid() == 0 {
		// root writes anyway: have the open fail as it would for a user.
		s, err = openBolt(path, func(b *Bolt) {
			b.openFile = func(name string, flag int, perm os.FileMode) (*os.File, error) {
				if flag&(os.O_WRONLY|os.O_RDWR) != 0 {
					return nil, &fs.PathError{Op: "open", Path: name, Err: syscall.EACCES}
				}
				return os.OpenFile(name, flag, perm)
			}
		})
	} else {
		s, err = OpenBolt(path)
	}
	if err == nil || !strings.Contains(err.Error(), path+" is not writable") || !strings.Contains(err.Error(), "permission denied") {
		t.Fatalf("err = %v", err)
	}
}

// TestBoltFileBusy: a process that keeps the file open (bbolt's exclusive
// flock) makes operations fail after the timeout, naming the file.
func TestBoltFileBusy(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "registry.db")
	s, err := openBolt(path, func(b *Bolt) { b.timeout = 300 * time.Millisecond })
	must(t, err)
	db, err := bolt.Open(path, 0o600, nil) // another holder of the file
	must(t, err)
	start := time.Now()
	err = s.Put(Record{Host: "h", Service: "s"})
	if err == nil || !strings.Contains(err.Error(), path+" is busy") || time.Since(start) > 3*time.Second {
		t.Fatalf("err = %v after %s", err, time.Since(start))
	}
	db.Close()
	must(t, s.Put(Record{Host: "h", Service: "s"}))
}

// putLock writes a lock entry as another run would have.
func putLock(t *testing.T, path, key string, e lockEntry) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	must(t, err)
	defer db.Close()
	v, _ := json.Marshal(e)
	must(t, db.Update(func(tx *bolt.Tx) error { return tx.Bucket(locksBucket).Put([]byte(key), v) }))
}

func TestBoltStaleLocks(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "registry.db")
	s, err := OpenBolt(path)
	must(t, err)
	ctx := context.Background()
	here := thisMachine()
	for _, c := range []struct {
		name  string
		entry lockEntry
		stale bool
	}{
		{"other machine, fresh heartbeat", lockEntry{Owner: Owner{Operator: "x", Machine: "elsewhere", PID: 1}, Heartbeat: time.Now()}, false},
		{"other machine, old heartbeat", lockEntry{Owner: Owner{Operator: "x", Machine: "elsewhere", PID: 1}, Heartbeat: time.Now().Add(-time.Minute)}, true},
		{"this process", lockEntry{Owner: Owner{Operator: "x", Machine: here, PID: os.Getpid()}, ProcStart: selfStart()}, false},
		{"this process, heartbeat old", lockEntry{Owner: Owner{Operator: "x", Machine: here, PID: os.Getpid()}, Heartbeat: time.Now().Add(-time.Hour)}, false},
		{"reused PID", lockEntry{Owner: Owner{Operator: "x", Machine: here, PID: os.Getpid()}, ProcStart: selfStart() + 1}, true},
		{"no such process", lockEntry{Owner: Owner{Operator: "x", Machine: here, PID: unusedPID(t)}, Heartbeat: time.Now()}, true},
	} {
		putLock(t, path, "h/s", c.entry)
		u, err := s.Lock(ctx, []string{"h/s"}, owner("bob"), 0)
		if c.stale {
			if err != nil {
				t.Errorf("%s: not reclaimed: %v", c.name, err)
				continue
			}
			must(t, u())
		} else {
			lockedBy(t, err, "h/s", "x")
		}
	}
	must(t, s.Close())
}

// TestBoltHeartbeat: a lock from another machine stays held while its run
// refreshes the heartbeat, long past the TTL.
func TestBoltHeartbeat(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "registry.db")
	short := func(b *Bolt) { b.ttl = 600 * time.Millisecond }
	a, err := openBolt(path, short)
	must(t, err)
	b, err := openBolt(path, short)
	must(t, err)
	remote := owner("remote")
	remote.Machine = "elsewhere"
	unlock, err := a.Lock(context.Background(), []string{"h/s"}, remote, 0)
	must(t, err)
	time.Sleep(1500 * time.Millisecond)
	_, err = b.Lock(context.Background(), []string{"h/s"}, owner("bob"), 0)
	lockedBy(t, err, "h/s", "remote@test")
	must(t, unlock())
	u, err := b.Lock(context.Background(), []string{"h/s"}, owner("bob"), 0)
	must(t, err)
	must(t, u())
}

func TestProcessAlive(t *testing.T) {
	t.Parallel()
	if !processAlive(os.Getpid(), 0) || !processAlive(os.Getpid(), selfStart()) {
		t.Fatal("this process is not alive")
	}
	if processAlive(os.Getpid(), selfStart()+1) {
		t.Fatal("a reused PID passes for its old process")
	}
	if processAlive(unusedPID(t), 0) || processAlive(0, 0) {
		t.Fatal("a missing process is alive")
	}
	h := startHelper(t, storeKit{}, "sleep", "", 0)
	h.expect(t, "sleeping", 30*time.Second)
	pid := h.cmd.Process.Pid
	if !processAlive(pid, procStart(pid)) {
		t.Fatal("helper is not alive")
	}
	h.kill(t)
	deadline := time.Now().Add(5 * time.Second)
	for {
		if state, _, err := procStat(pid); err == nil && state == 'Z' {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("helper never became a zombie")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if processAlive(pid, 0) {
		t.Fatal("a zombie is alive")
	}
}

func unusedPID(t *testing.T) int {
	for pid := 4_000_000; pid > 100_000; pid -= 7919 {
		if _, err := os.Stat("/proc/" + strconv.Itoa(pid)); errors.Is(err, os.ErrNotExist) {
			return pid
		}
	}
	t.Fatal("no unused PID")
	return 0
}
