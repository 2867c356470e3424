package registry

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// TestBoltBusyWaitEndsWithContext: another process keeps the file open
// and the operator presses Ctrl-C (found by review). The open's wait, a
// transaction's and the run lock's end at once with the context's error
// (exit 130), not after the 5 s wait as "busy" (exit 5). Once the handle
// holds a run lock, its writes (what the run did) are not cut short: they
// wait for the file as before.
func TestBoltBusyWaitEndsWithContext(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "registry.db")
	ctx, cancel := context.WithCancel(context.Background())
	s, err := OpenBoltContext(ctx, path) // a run, holding its lock
	must(t, err)
	defer s.Close()
	unlock, err := s.Lock(context.Background(), []string{"h/locked"}, owner("alice"), 0)
	must(t, err)
	r, err := OpenBoltContext(ctx, path) // a command holding no lock
	must(t, err)
	defer r.Close()

	holder, err := bolt.Open(path, 0o600, nil) // another process's hold
	must(t, err)
	time.AfterFunc(300*time.Millisecond, cancel)
	start := time.Now()
	_, err = OpenBoltContext(ctx, path)
	if !errors.Is(err, context.Canceled) || time.Since(start) > 2*time.Second {
		t.Errorf("open of a busy file, interrupted: %v after %s, want the context's error at once", err, time.Since(start))
	}
	start = time.Now()
	if _, err = r.Events(EventQuery{}); !errors.Is(err, context.Canceled) || time.Since(start) > time.Second {
		t.Errorf("read of a busy file, interrupted: %v after %s, want the context's error at once", err, time.Since(start))
	}
	if _, err = r.Lock(ctx, []string{"h/s"}, owner("bob"), 0); !errors.Is(err, context.Canceled) {
		t.Errorf("lock of a busy file, interrupted: %v, want the context's error", err)
	}

	// The run's own writes, while it holds its lock, wait for the file.
	time.AfterFunc(300*time.Millisecond, func() { holder.Close() })
	must(t, s.Put(Record{Host: "h", Service: "locked", State: "running"}))
	must(t, unlock())
}

// TestWriteErrorNamesTheRegistry: a write the file system refuses (full,
// a quota used up, read-only) is the registry's problem, named, with what
// to do, wherever it happens (found by review: a full disk read as a bare
// "write FILE: no space left on device", exit 1). bbolt words some of
// these errors with %s, which keeps only the errno's words.
func TestWriteErrorNamesTheRegistry(t *testing.T) {
	t.Parallel()
	b := &Bolt{path: "/var/lib/omni/registry.db"}
	for _, tc := range []struct {
		err  error
		want FileProblem
	}{
		{&os.PathError{Op: "write", Path: b.path, Err: syscall.ENOSPC}, FileUnusable},
		{&os.PathError{Op: "write", Path: b.path, Err: syscall.EDQUOT}, FileUnusable},
		{errors.New("file resize error: " + syscall.ENOSPC.Error()), FileUnusable},
		{&os.PathError{Op: "write", Path: b.path, Err: syscall.EROFS}, FileNotWritable},
	} {
		var ferr *FileError
		if err := b.writeError(tc.err); !errors.As(err, &ferr) || ferr.Problem != tc.want || ferr.Path != b.path {
			t.Errorf("writeError(%v) = %v, want a FileError of problem %d", tc.err, err, tc.want)
		}
	}
	if err := b.writeError(errHeld); err != errHeld {
		t.Errorf("a transaction's own error became %v", err)
	}
}
