package registry

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

var (
	recordsBucket = []byte("records")
	eventsBucket  = []byte("events")
	locksBucket   = []byte("locks")
)

const (
	// boltFileTimeout is how long an operation waits for the file lock
	// that bbolt holds while another process has the file open. omni holds
	// it for one transaction (milliseconds); a process that holds it longer
	// is stuck, and the operation fails naming the file.
	boltFileTimeout = 5 * time.Second
	// boltLockTTL is how old the heartbeat of a run on another machine may
	// be before its locks count as stale.
	boltLockTTL = 30 * time.Second
	// fileRetry is how often a wait for the file tries it again, and so how
	// soon an interrupt ends the wait.
	fileRetry = 20 * time.Millisecond
)

// Bolt is the embedded Store: one bbolt file, no server. Each operation
// opens the file, runs one transaction and closes it, because bbolt keeps
// an exclusive lock on the file for as long as it is open: that way several
// omni processes share the store, each waiting at most milliseconds for
// the others. Within a process, operations on the same file take turns on
// a mutex instead, and writes that wait for their turn are committed
// together (see update). Every change is one bbolt transaction, so a crash
// or a SIGKILL leaves the file as it was before or after it.
type Bolt struct {
	path    string
	machine string        // this machine, as owners name it
	timeout time.Duration // file lock wait
	ttl     time.Duration // heartbeat age of a stale lock from another machine
	file    *sharedFile   // shared by this process's handles on path
	// openFile, when set, replaces os.OpenFile (tests).
	openFile func(string, int, os.FileMode) (*os.File, error)
	noSync   bool // tests: no fsync
	// ctx is the command's: its end (Ctrl-C, SIGTERM) ends a wait for
	// the file that another process holds (see waitCtx).
	ctx context.Context

	closed atomic.Bool
	held   heldLocks[*boltLock]
}

// sharedFiles serialises the handles of this process on one file.
var sharedFiles sync.Map // absolute path → *sharedFile

// sharedFile is what this process's handles on one file share: the mutex
// its operations take turns on, and the writes waiting for their turn.
type sharedFile struct {
	mu      sync.RWMutex
	queueMu sync.Mutex
	queue   []*write
}

// OpenBolt returns the store kept in the bbolt file at path, creating the
// file and its directory when missing. A file that cannot be written, is
// not a registry, or is damaged is a *FileError naming it and saying what
// to do; the whole file is checked here (see init), before the caller
// touches anything.
func OpenBolt(path string) (*Bolt, error) { return OpenBoltContext(context.Background(), path) }

// OpenBoltContext is OpenBolt for a command whose end (ctx: Ctrl-C,
// SIGTERM) ends at once any wait for the file that another process holds,
// as long as the store holds no run lock (see waitCtx).
func OpenBoltContext(ctx context.Context, path string) (*Bolt, error) {
	return openBolt(path, func(b *Bolt) { b.ctx = ctx })
}

// openBolt is OpenBolt with tweak applied before the first open (tests).
func openBolt(path string, tweak func(*Bolt)) (*Bolt, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("registry %s: %w", path, err)
	}
	if err := os.MkdirAll(filepath.Dir(abs), 0o700); err != nil {
		// Classified as an open's error is: not writable, or unusable (a
		// path under a regular file).
		return nil, (&Bolt{path: abs}).openError(fmt.Errorf("cannot create its directory: %w", err), false)
	}
	file, _ := sharedFiles.LoadOrStore(abs, new(sharedFile))
	b := &Bolt{
		path:    abs,
		machine: thisMachine(),
		timeout: boltFileTimeout,
		ttl:     boltLockTTL,
		file:    file.(*sharedFile),
		ctx:     context.Background(),
	}
	if tweak != nil {
		tweak(b)
	}
	if err := b.init(); err != nil {
		return nil, err
	}
	return b, nil
}

// init is the check of the file when the store is opened, before
// anything else: the whole file (checkFile), then one write transaction
// that creates the buckets, reads every record and commits, so that a file
// that cannot be read or written is found out before any host is touched.
func (b *Bolt) init() error {
	b.file.mu.Lock()
	defer b.file.mu.Unlock()
	if err := b.precheck(b.ctx, checkFile); err != nil {
		return err
	}
	return b.guarded(b.ctx, true, func(tx *bolt.Tx) error {
		for _, name := range [][]byte{recordsBucket, eventsBucket, locksBucket} {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return err
			}
		}
		return tx.Bucket(recordsBucket).ForEach(func(_, v []byte) error {
			return b.decode("record", v, new(Record))
		})
	})
}

// Path is the file the store lives in.
func (b *Bolt) Path() string { return b.path }

// Close releases the locks this handle still holds. Operations after
// Close fail.
func (b *Bolt) Close() error {
	if b.closed.Swap(true) {
		return nil
	}
	return b.held.unlockAll()
}

var errClosed = errors.New("registry: store is closed")

// tx runs fn in one transaction: a read-only one, or a write (see update).
// Its wait for the file ends with waitCtx.
func (b *Bolt) tx(write bool, fn func(*bolt.Tx) error) error {
	return b.txWaiting(b.waitCtx(), write, fn)
}

// txWaiting is tx with the wait for the file ended by ctx.
func (b *Bolt) txWaiting(ctx context.Context, write bool, fn func(*bolt.Tx) error) error {
	if write {
		return b.update(ctx, fn)
	}
	b.file.mu.RLock()
	defer b.file.mu.RUnlock()
	return b.open(ctx, false, fn)
}

// waitCtx is what ends this handle's waits for the file: the command's
// context, until the handle holds a run lock. From then on its
// transactions record what the run does (its events, the state it left
// a service in, the lock's release): an interrupt does not cut them
// short, so that the registry says what was done; each still waits at
// most b.timeout.
func (b *Bolt) waitCtx() context.Context {
	if b.held.any() {
		return context.WithoutCancel(b.ctx)
	}
	return b.ctx
}

// open opens the file (read-only unless write), runs fn in one
// transaction and closes the file, waiting for it until ctx ends at most.
// The caller holds b.file.mu.
func (b *Bolt) open(ctx context.Context, write bool, fn func(*bolt.Tx) error) error {
	if err := b.precheck(ctx, checkMeta); err != nil {
		return err
	}
	return b.guarded(ctx, write, fn)
}

// precheck checks the file with check before bbolt maps it into memory
// and trusts what it finds there: a page beyond the end of the file would
// kill the process (SIGBUS), a freelist page that is not one panics. It
// holds a shared lock on the file meanwhile, so that it does not read a
// write half done (waiting for it until ctx ends at most). A missing or
// empty file passes: bbolt creates it.
func (b *Bolt) precheck(ctx context.Context, check func(io.ReaderAt, int64) error) error {
	// Its type first: opening a FIFO blocks for ever (no signal ends the
	// open), and a device reads as empty, so it would pass for new.
	if info, err := os.Stat(b.path); err == nil && !info.Mode().IsRegular() {
		return &FileError{Path: b.path, Problem: FileUnusable, Err: fmt.Errorf("not a regular file (%s)", info.Mode().Type())}
	} else if err != nil && !errors.Is(err, os.ErrNotExist) {
		return b.openError(err, true)
	}
	f, err := os.Open(b.path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return b.openError(err, true)
	}
	defer f.Close()
	if err := flockShared(ctx, f, b.timeout); err != nil {
		return b.openError(err, true)
	}
	info, err := f.Stat()
	if err != nil {
		return fmt.Errorf("registry %s: %w", b.path, err)
	}
	if info.Size() == 0 {
		return nil
	}
	if !info.Mode().IsRegular() {
		return b.damaged(fmt.Errorf("not a regular file (%s)", info.Mode().Type()))
	}
	if err := check(f, info.Size()); err != nil {
		return b.damaged(err)
	}
	return nil
}

// guarded opens the file with bbolt and runs fn in one transaction, with
// a memory fault (a read past the end of a file cut short after the
// check) or a panic of bbolt on a damaged page turned into an error. It
// waits for a file that another process holds until ctx ends at most. A
// transaction that the file system refuses (full, read-only) is the
// registry's problem wherever it happens, and says so (writeError).
func (b *Bolt) guarded(ctx context.Context, write bool, fn func(*bolt.Tx) error) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	var file *os.File // bbolt's, to release its lock after a panic
	openFile := b.openFile
	if openFile == nil {
		openFile = os.OpenFile
	}
	// One try of bbolt's file lock per open (no wait of its own: bbolt
	// waits on no context), waitBusy trying again.
	opts := &bolt.Options{Timeout: time.Nanosecond, ReadOnly: !write, NoSync: b.noSync, OpenFile: func(name string, flag int, mode os.FileMode) (*os.File, error) {
		f, err := openFile(name, flag, mode)
		file = f
		return f, err
	}}
	defer func() {
		if p := recover(); p != nil {
			// A panic inside Open leaves the db without a handle: unlock
			// its file (its memory map, leaked, would keep the flock
			// alive past the close) and close it.
			if file != nil {
				syscall.Flock(int(file.Fd()), syscall.LOCK_UN)
				file.Close()
			}
			err = b.damaged(panicCause(p))
		}
	}()
	var db *bolt.DB
	err = waitBusy(ctx, b.timeout, func() (err error) {
		db, err = bolt.Open(b.path, 0o600, opts)
		return err
	})
	if err != nil {
		return b.openError(err, false)
	}
	defer func() {
		if cerr := db.Close(); cerr != nil && err == nil {
			if err = b.writeError(cerr); err == cerr {
				err = fmt.Errorf("registry %s: %w", b.path, cerr)
			}
		}
	}()
	if write {
		err = db.Update(fn)
	} else {
		err = db.View(fn)
	}
	if errors.Is(err, bolterrors.ErrChecksum) || errors.Is(err, bolterrors.ErrInvalid) {
		return b.damaged(err)
	}
	return b.writeError(err)
}

// panicCause describes what bbolt panicked with: a memory fault is a read
// past the end of the file (it was cut short) or of its memory map.
func panicCause(p any) error {
	if f, ok := p.(interface{ Addr() uintptr }); ok {
		return fmt.Errorf("a read past the end of the file: memory fault at %#x (%v)", f.Addr(), p)
	}
	return fmt.Errorf("%v", p)
}

// bucket returns the bucket name of tx, creating it in a writable
// transaction; nil when a read-only transaction finds none.
func bucket(tx *bolt.Tx, name []byte) (*bolt.Bucket, error) {
	if tx.Writable() {
		return tx.CreateBucketIfNotExists(name)
	}
	return tx.Bucket(name), nil
}

func (b *Bolt) check() error {
	if b.closed.Load() {
		return errClosed
	}
	return nil
}

// Get implements Registry.
func (b *Bolt) Get(host, service string) (Record, bool, error) {
	var rec Record
	var ok bool
	if err := b.check(); err != nil {
		return rec, false, err
	}
	err := b.tx(false, func(tx *bolt.Tx) error {
		bkt, _ := bucket(tx, recordsBucket)
		if bkt == nil {
			return nil
		}
		v := bkt.Get([]byte(LockKey(host, service)))
		if v == nil {
			return nil
		}
		ok = true
		return b.decode("record", v, &rec)
	})
	return rec, ok, err
}

// Put implements Registry.
func (b *Bolt) Put(rec Record) error {
	if err := b.check(); err != nil {
		return err
	}
	if rec.Host == "" || rec.Service == "" {
		return fmt.Errorf("registry: record without host or service: %+v", rec)
	}
	v, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	return b.tx(true, func(tx *bolt.Tx) error {
		bkt, err := bucket(tx, recordsBucket)
		if err != nil {
			return err
		}
		return bkt.Put([]byte(LockKey(rec.Host, rec.Service)), v)
	})
}

// List implements Registry.
func (b *Bolt) List() ([]Record, error) {
	if err := b.check(); err != nil {
		return nil, err
	}
	var out []Record
	err := b.tx(false, func(tx *bolt.Tx) error {
		bkt, _ := bucket(tx, recordsBucket)
		if bkt == nil {
			return nil
		}
		return bkt.ForEach(func(_, v []byte) error {
			var rec Record
			if err := b.decode("record", v, &rec); err != nil {
				return err
			}
			out = append(out, rec)
			return nil
		})
	})
	sortRecords(out)
	return out, err
}

// sortRecords orders records by host then service. (Keys "host/service"
// do not sort that way: "a-b/x" < "a/x".)
func sortRecords(recs []Record) {
	slices.SortFunc(recs, func(a, b Record) int {
		if c := strings.Compare(a.Host, b.Host); c != 0 {
			return c
		}
		return strings.Compare(a.Service, b.Service)
	})
}

func (b *Bolt) decode(what string, v []byte, into any) error {
	if err := json.Unmarshal(v, into); err != nil {
		return b.damaged(fmt.Errorf("a %s that does not read: %v", what, err))
	}
	return nil
}

// BeginEvent implements Store.
func (b *Bolt) BeginEvent(ev Event) (string, error) {
	if err := b.check(); err != nil {
		return "", err
	}
	ev = beginning(ev)
	err := b.tx(true, func(tx *bolt.Tx) error {
		bkt, err := bucket(tx, eventsBucket)
		if err != nil {
			return err
		}
		seq, err := bkt.NextSequence()
		if err != nil {
			return err
		}
		ev.ID = eventID(ev.Started, uint32(seq))
		v, err := json.Marshal(ev)
		if err != nil {
			return err
		}
		return bkt.Put([]byte(ev.ID), v)
	})
	if err != nil {
		return "", err
	}
	return ev.ID, nil
}

// FinishEvent implements Store.
func (b *Bolt) FinishEvent(ev Event) error {
	if err := b.check(); err != nil {
		return err
	}
	return b.tx(true, func(tx *bolt.Tx) error {
		bkt, err := bucket(tx, eventsBucket)
		if err != nil {
			return err
		}
		v := bkt.Get([]byte(ev.ID))
		if v == nil {
			return fmt.Errorf("registry %s: no event %q", b.path, ev.ID)
		}
		var old Event
		if err := b.decode("event", v, &old); err != nil {
			return err
		}
		v, err = json.Marshal(finishing(ev, old))
		if err != nil {
			return err
		}
		return bkt.Put([]byte(ev.ID), v)
	})
}

// Events implements Store. It walks the events from the newest and stops
// at q.Since or once it has q.Limit.
func (b *Bolt) Events(q EventQuery) ([]Event, error) {
	if err := b.check(); err != nil {
		return nil, err
	}
	var out []Event
	err := b.tx(false, func(tx *bolt.Tx) error {
		bkt, _ := bucket(tx, eventsBucket)
		if bkt == nil {
			return nil
		}
		var stop []byte
		if !q.Since.IsZero() {
			stop = []byte(sinceKey(q.Since))
		}
		may := q.mayMatch()
		c := bkt.Cursor()
		for k, v := c.Last(); k != nil; k, v = c.Prev() {
			if stop != nil && bytes.Compare(k, stop) < 0 {
				break
			}
			if !may(v) {
				continue
			}
			var ev Event
			if err := b.decode("event", v, &ev); err != nil {
				return err
			}
			if !q.matches(&ev) {
				continue
			}
			out = append(out, ev)
			if q.Limit > 0 && len(out) == q.Limit {
				break
			}
		}
		return nil
	})
	return out, err
}
