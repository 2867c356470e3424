package registry

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
)

// errHeld rolls back a lock transaction that found a key held.
var errHeld = errors.New("held")

// Lock implements Store. It takes every key in one transaction or none.
// A key is free when nobody holds it, or when its holder is gone: on this
// machine, its process has exited (or its PID now belongs to another
// process); on another machine, its heartbeat is older than 30 s. While
// held, the locks' heartbeat is refreshed every 10 s.
func (b *Bolt) Lock(ctx context.Context, keys []string, owner Owner, wait time.Duration) (func() error, error) {
	if err := b.check(); err != nil {
		return nil, err
	}
	keys = lockKeys(keys)
	if len(keys) == 0 {
		return func() error { return nil }, nil
	}
	owner = fillOwner(owner, b.machine)
	entry := lockEntry{Owner: owner, Token: newToken()}
	if owner.Machine == b.machine {
		if owner.PID == os.Getpid() {
			entry.ProcStart = selfStart()
		} else {
			entry.ProcStart = procStart(owner.PID)
		}
	}
	err := retryLock(ctx, wait, func() (*LockedError, error) { return b.tryLock(ctx, keys, entry) })
	if err != nil {
		return nil, err
	}
	l := &boltLock{b: b, keys: keys, token: entry.Token, stop: make(chan struct{}), done: make(chan struct{})}
	b.held.add(l)
	go l.heartbeat(max(b.ttl/3, time.Millisecond))
	return l.unlock, nil
}

// LockLost implements Store: a bbolt lock held by a live process is
// never lost, so the context never ends.
func (b *Bolt) LockLost() context.Context { return context.Background() }

var selfStart = sync.OnceValue(func() uint64 { return procStart(os.Getpid()) })

// tryLock takes every key for entry, or returns who holds one of them.
// Its wait for the file ends with ctx, Lock's.
func (b *Bolt) tryLock(ctx context.Context, keys []string, entry lockEntry) (*LockedError, error) {
	var held *LockedError
	err := b.txWaiting(ctx, true, func(tx *bolt.Tx) error {
		held = nil // the write may run twice (see update)
		bkt, err := bucket(tx, locksBucket)
		if err != nil {
			return err
		}
		now := time.Now()
		for _, k := range keys {
			v := bkt.Get([]byte(k))
			if v == nil {
				continue
			}
			var cur lockEntry
			if json.Unmarshal(v, &cur) == nil && b.alive(cur, now) {
				held = &LockedError{Key: k, Holder: cur.Owner}
				return errHeld
			}
			// A stale or unreadable lock is taken over below.
		}
		entry.Heartbeat = now
		v, err := json.Marshal(entry)
		if err != nil {
			return err
		}
		for _, k := range keys {
			if err := bkt.Put([]byte(k), v); err != nil {
				return err
			}
		}
		return nil
	})
	if held != nil {
		return held, nil
	}
	return nil, err
}

// alive says whether the holder of e still runs.
func (b *Bolt) alive(e lockEntry, now time.Time) bool {
	if e.Owner.Machine == b.machine {
		return processAlive(e.Owner.PID, e.ProcStart)
	}
	return now.Sub(e.Heartbeat) < b.ttl
}

// updateLocks applies fn to the lock entries of keys that still carry token;
// fn returns false to delete the entry.
func (b *Bolt) updateLocks(keys []string, token string, fn func(*lockEntry) bool) error {
	return b.tx(true, func(tx *bolt.Tx) error {
		bkt, err := bucket(tx, locksBucket)
		if err != nil {
			return err
		}
		for _, k := range keys {
			v := bkt.Get([]byte(k))
			var cur lockEntry
			if v == nil || json.Unmarshal(v, &cur) != nil || cur.Token != token {
				continue // released, or reclaimed by another run
			}
			if !fn(&cur) {
				if err := bkt.Delete([]byte(k)); err != nil {
					return err
				}
				continue
			}
			if v, err = json.Marshal(cur); err != nil {
				return err
			}
			if err := bkt.Put([]byte(k), v); err != nil {
				return err
			}
		}
		return nil
	})
}

// boltLock is the locks taken by one Lock call.
type boltLock struct {
	b     *Bolt
	keys  []string
	token string

	mu       sync.Mutex
	stop     chan struct{} // closed to stop the heartbeat
	done     chan struct{} // closed when the heartbeat has stopped
	released bool
}

func (l *boltLock) heartbeat(every time.Duration) {
	defer close(l.done)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
			// An error (file busy) is retried at the next tick; a lock
			// whose heartbeat stops only matters to other machines.
			l.b.updateLocks(l.keys, l.token, func(e *lockEntry) bool {
				e.Heartbeat = time.Now()
				return true
			})
		}
	}
}

// unlock deletes the keys this Lock call still holds. Once it has
// succeeded, it does nothing.
func (l *boltLock) unlock() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.released {
		return nil
	}
	if l.stop != nil {
		close(l.stop)
		<-l.done
		l.stop = nil
	}
	if err := l.b.updateLocks(l.keys, l.token, func(*lockEntry) bool { return false }); err != nil {
		return err
	}
	l.released = true
	l.b.held.remove(l)
	return nil
}
