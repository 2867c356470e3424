package registry

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"syscall"
	"time"

	bolterrors "go.etcd.io/bbolt/errors"
)

// FileProblem says why a registry file cannot be used.
type FileProblem int

// The problems of a registry file.
const (
	// FileDamaged: not a whole bbolt database (cut short, overwritten,
	// bytes flipped), or a record in it that does not read.
	FileDamaged FileProblem = iota + 1
	// FileOldFormat: the JSON registry of an older omni.
	FileOldFormat
	// FileNotReadable: it cannot be read (permissions).
	FileNotReadable
	// FileNotWritable: it (or its directory) cannot be written: permissions,
	// a read-only file system.
	FileNotWritable
	// FileBusy: another process has held it open for longer than the wait.
	FileBusy
	// FileUnusable: its path cannot be used for a database: not a regular
	// file (a FIFO, a device), a symlink loop, a directory that went
	// away, a full disk or a user's disk quota used up.
	FileUnusable
)

// FileError is a registry file that cannot be read or written. omni opens
// and checks the file before it touches any host, so this error at the
// start of a command means nothing was changed. Its message names the
// file and says what to do.
type FileError struct {
	Path    string
	Problem FileProblem
	Err     error // the cause
}

func (e *FileError) Error() string {
	p := e.Path
	switch e.Problem {
	case FileOldFormat:
		return fmt.Sprintf("registry %s is a JSON registry of an older omni, not a database; move it aside "+
			"(mv %s %s.json) to start a new one", p, p, p)
	case FileNotReadable, FileNotWritable:
		what := "readable"
		if e.Problem == FileNotWritable {
			what = "writable"
		}
		return fmt.Sprintf("registry %s is not %s (%v): fix its permissions or those of its directory, "+
			"or use another file (--registry, or registry.path in the inventory)", p, what, e.Err)
	case FileBusy:
		return fmt.Sprintf("registry %s is busy: %v; stop that process and try again", p, e.Err)
	case FileUnusable:
		return fmt.Sprintf("registry %s cannot be used (%v): use a regular file in a directory that exists, "+
			"on a file system with room (--registry, or registry.path in the inventory)", p, e.Err)
	}
	return fmt.Sprintf("registry %s is damaged (%v): restore it from a backup, or move it aside "+
		"(mv %s %s.corrupt) to start a new one, or use another file (--registry)", p, e.Err, p, p)
}

func (e *FileError) Unwrap() error { return e.Err }

// damaged is the error of a file that is not a whole database.
func (b *Bolt) damaged(err error) error {
	if head, rerr := readHead(b.path, 64); rerr == nil && bytes.HasPrefix(bytes.TrimSpace(head), []byte("{")) {
		return &FileError{Path: b.path, Problem: FileOldFormat, Err: err}
	}
	return &FileError{Path: b.path, Problem: FileDamaged, Err: err}
}

// openError explains why the file could not be opened (for writing
// unless read).
func (b *Bolt) openError(err error, read bool) error {
	switch {
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		// Ctrl-C while another process holds the file: not the file's
		// problem, and it unwraps to the context's error (exit 130).
		return fmt.Errorf("registry %s: stopped waiting for the process that holds it: %w", b.path, err)
	case errors.Is(err, bolterrors.ErrTimeout):
		return &FileError{Path: b.path, Problem: FileBusy, Err: fmt.Errorf("another process has kept it open for over %s "+
			"(a stuck omni, or a tool such as bbolt)", b.timeout)}
	case errors.Is(err, os.ErrPermission) && read:
		return &FileError{Path: b.path, Problem: FileNotReadable, Err: err}
	case errors.Is(err, os.ErrPermission):
		return &FileError{Path: b.path, Problem: FileNotWritable, Err: err}
	case errors.Is(err, os.ErrNotExist):
		return &FileError{Path: b.path, Problem: FileUnusable, Err: fmt.Errorf("it, or its directory, has disappeared: %w", err)}
	case errors.Is(err, syscall.ELOOP), errors.Is(err, syscall.ENOTDIR),
		errors.Is(err, syscall.EISDIR), errors.Is(err, syscall.EINVAL):
		return &FileError{Path: b.path, Problem: FileUnusable, Err: err}
	case errors.Is(err, bolterrors.ErrInvalid), errors.Is(err, bolterrors.ErrChecksum),
		errors.Is(err, bolterrors.ErrVersionMismatch), strings.Contains(err.Error(), "file size too small"):
		return b.damaged(err)
	}
	if ferr := b.writeError(err); ferr != err {
		return ferr
	}
	return fmt.Errorf("registry %s: %w", b.path, err)
}

// writeError is err, or, when the file system refused the write (full,
// a quota used up, read-only), a *FileError that names the file and says
// what to do: at the open as in any later transaction, the run lock's and
// the history's included. (Before any host is touched that is exit 2;
// later, in a step, the step's failure; see engine.Classify.) Any other
// error, a transaction's own, is returned as it is.
func (b *Bolt) writeError(err error) error {
	switch {
	case err == nil:
		return nil
	case refusedFor(err, syscall.ENOSPC), refusedFor(err, syscall.EDQUOT):
		return &FileError{Path: b.path, Problem: FileUnusable, Err: err}
	case refusedFor(err, syscall.EROFS):
		return &FileError{Path: b.path, Problem: FileNotWritable, Err: err}
	}
	return err
}

// refusedFor says whether err is errno. bbolt words some of its errors
// with %s (growing the file: "file resize error: no space left on
// device"), which keeps the errno's words only.
func refusedFor(err error, errno syscall.Errno) bool {
	return errors.Is(err, errno) || strings.HasSuffix(err.Error(), ": "+errno.Error())
}

func readHead(path string, n int) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	buf := make([]byte, n)
	m, err := f.Read(buf)
	return buf[:m], err
}

// flockShared takes a shared lock on f, waiting for a process that holds
// it exclusively (bbolt's writers do) at most timeout, or until ctx ends.
// The lock goes with f's descriptor.
func flockShared(ctx context.Context, f *os.File, timeout time.Duration) error {
	return waitBusy(ctx, timeout, func() error {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_SH|syscall.LOCK_NB)
		if err == syscall.EWOULDBLOCK {
			return bolterrors.ErrTimeout
		}
		return err
	})
}

// waitBusy calls try until it takes the file: try returns
// bolterrors.ErrTimeout while another process holds it. It tries every
// fileRetry for at most timeout (then ErrTimeout), and stops at once when
// ctx ends (ctx's error): Ctrl-C never waits for another process.
func waitBusy(ctx context.Context, timeout time.Duration, try func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := try()
		if !errors.Is(err, bolterrors.ErrTimeout) || time.Now().After(deadline) {
			return err
		}
		t := time.NewTimer(fileRetry)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}
