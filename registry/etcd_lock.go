package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// Lock implements Store. It grants a lease (LockTTL), keeps it alive while
// waiting and while held, and puts every key with that lease in one
// transaction that succeeds only if none of them exists. Unlock revokes
// the lease, which deletes exactly the keys taken with it. More keys than
// one transaction may hold (128) are taken in sorted batches; if a later
// batch finds a key held, the earlier batches are deleted again, so the
// result is still all or nothing.
func (s *Etcd) Lock(ctx context.Context, keys []string, owner Owner, wait time.Duration) (func() error, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	keys = lockKeys(keys)
	if len(keys) == 0 {
		return func() error { return nil }, nil
	}
	owner = fillOwner(owner, s.machine)
	v, err := json.Marshal(lockEntry{Owner: owner, Heartbeat: time.Now(), Token: newToken()})
	if err != nil {
		return nil, err
	}
	gctx, cancel := context.WithTimeout(ctx, s.timeout)
	lease, err := s.cli.Grant(gctx, int64(math.Ceil(s.ttl.Seconds())))
	cancel()
	if err != nil {
		return nil, s.errorf("lease: %w", err)
	}
	l := &etcdLock{s: s, lease: lease.ID, keys: keys}
	kctx, stop := context.WithCancel(context.Background())
	l.stop = stop
	alive, err := s.cli.KeepAlive(kctx, lease.ID)
	if err != nil {
		l.unlock()
		return nil, s.errorf("lease: %w", err)
	}
	go func() {
		for range alive { // drained until stop or the lease is lost
		}
		if kctx.Err() == nil { // the keep-alive ended, not stop
			l.lose(kctx, "")
		}
	}()
	var rev int64 // of the first batch taken
	err = retryLock(ctx, wait, func() (*LockedError, error) {
		return s.tryLock(ctx, keys, string(v), lease.ID, &rev)
	})
	if err != nil {
		l.unlock()
		return nil, err
	}
	s.held.add(l)
	l.taken.Store(true)
	go l.watch(kctx, rev)
	return l.unlock, nil
}

// LockLost implements Store: its context ends, with a *LockLostError as
// its cause, when a lock this handle took ends while held: its lease
// expired (etcd heard no keep-alive for its TTL) or was revoked, or one
// of its keys was deleted. Another run may then take the keys.
func (s *Etcd) LockLost() context.Context { return s.lost }

// watch tells of a delete of one of the lock's keys from revision rev
// on (a revoked or expired lease deletes them), until ctx ends (unlock).
// The keep-alive alone would learn of a revoked lease only at its next
// renewal, a third of the TTL later.
func (l *etcdLock) watch(ctx context.Context, rev int64) {
	mine := make(map[string]bool, len(l.keys))
	for _, k := range l.keys {
		mine[l.s.lockKey(k)] = true
	}
	opts := []clientv3.OpOption{clientv3.WithPrefix(), clientv3.WithFilterPut()}
	if rev > 0 {
		opts = append(opts, clientv3.WithRev(rev+1))
	}
	for resp := range l.s.cli.Watch(clientv3.WithRequireLeader(ctx), l.s.lockKey(""), opts...) {
		for _, ev := range resp.Events {
			if key := string(ev.Kv.Key); mine[key] {
				l.lose(ctx, key)
				return
			}
		}
	}
}

// lose says that the lock ended while held, once: deleted names the key
// whose delete told, "" when the keep-alive did.
func (l *etcdLock) lose(ctx context.Context, deleted string) {
	if !l.taken.Load() || ctx.Err() != nil || !l.lostOnce.CompareAndSwap(false, true) {
		return
	}
	why := "etcd lease ended: " + l.s.leaseEnded(l.lease)
	if deleted != "" {
		why += "; its key " + deleted + " was deleted"
	}
	l.s.loseLock(&LockLostError{Keys: l.keys, Why: why})
}

// leaseEnded says why lease is no longer kept alive.
func (s *Etcd) leaseEnded(lease clientv3.LeaseID) string {
	// Short: the run waits for this word to stop touching new hosts.
	ctx, cancel := context.WithTimeout(context.Background(), min(s.timeout, 2*time.Second))
	defer cancel()
	resp, err := s.cli.TimeToLive(ctx, lease)
	switch {
	case err != nil:
		return fmt.Sprintf("etcd did not answer its keep-alive within its TTL (%s) (%v)", s.ttl, err)
	case resp.TTL <= 0:
		return fmt.Sprintf("it expired (no keep-alive for its TTL, %s) or was revoked", s.ttl)
	}
	return "its keep-alive stopped"
}

// tryLock puts every key with lease if none exists, or returns who holds
// one of them. Each transaction is a request with the request timeout
// of its own: a large fleet's lock is many of them, one after another,
// and over a slow link their sum exceeds any one timeout.
func (s *Etcd) tryLock(ctx context.Context, keys []string, v string, lease clientv3.LeaseID, rev *int64) (*LockedError, error) {
	var taken []string
	for len(keys) > 0 {
		batch := keys[:min(len(keys), etcdMaxTxnOps)]
		keys = keys[len(batch):]
		var ifs []clientv3.Cmp
		var puts, gets []clientv3.Op
		for _, k := range batch {
			key := s.lockKey(k)
			ifs = append(ifs, clientv3.Compare(clientv3.CreateRevision(key), "=", 0))
			puts = append(puts, clientv3.OpPut(key, v, clientv3.WithLease(lease)))
			gets = append(gets, clientv3.OpGet(key))
		}
		tctx, cancel := context.WithTimeout(ctx, s.timeout)
		resp, err := s.cli.Txn(tctx).If(ifs...).Then(puts...).Else(gets...).Commit()
		cancel()
		if err != nil {
			return nil, errors.Join(s.errorf("lock: %w", err), s.untake(taken))
		}
		if resp.Succeeded {
			if len(taken) == 0 {
				*rev = resp.Header.Revision
			}
			for _, k := range batch {
				taken = append(taken, s.lockKey(k))
			}
			continue
		}
		held := &LockedError{Key: batch[0]}
		for i, r := range resp.Responses {
			if kvs := r.GetResponseRange().GetKvs(); len(kvs) > 0 {
				held = &LockedError{Key: batch[i]}
				var cur lockEntry
				switch err := json.Unmarshal(kvs[0].Value, &cur); {
				case err != nil:
					held.Unreadable = err
				case cur.Owner == (Owner{}):
					held.Unreadable = fmt.Errorf("it names no holder: %.200q", kvs[0].Value)
				default:
					held.Holder = cur.Owner
				}
				break
			}
		}
		return held, s.untake(taken)
	}
	return nil, nil
}

// untake deletes lock keys taken by earlier batches of a failed Lock,
// each transaction with the request timeout of its own (see tryLock).
func (s *Etcd) untake(keys []string) error {
	for len(keys) > 0 {
		batch := keys[:min(len(keys), etcdMaxTxnOps)]
		keys = keys[len(batch):]
		var dels []clientv3.Op
		for _, k := range batch {
			dels = append(dels, clientv3.OpDelete(k))
		}
		ctx, cancel := s.ctx()
		_, err := s.cli.Txn(ctx).Then(dels...).Commit()
		cancel()
		if err != nil {
			return s.errorf("unlock: %w", err)
		}
	}
	return nil
}

// etcdLock is the locks taken by one Lock call: one lease.
type etcdLock struct {
	s     *Etcd
	lease clientv3.LeaseID
	keys  []string           // HOST/SERVICE, sorted
	stop  context.CancelFunc // stops the keep-alive and the watch

	taken    atomic.Bool // the keys are held: a loss from now on is said
	lostOnce atomic.Bool

	mu       sync.Mutex
	released bool
}

// unlock revokes the lease, deleting the keys still attached to it. A
// lease already gone (expired) is not an error. It tries once: the
// keep-alive is stopped first, so a lease whose revoke failed (etcd gone)
// ends by itself within its TTL, and trying again (Close) would only
// wait another request timeout. Either way the lock is then released or
// abandoned to its TTL, said once, and a second call does nothing.
func (l *etcdLock) unlock() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.released {
		return nil
	}
	l.stop()
	l.released = true
	l.s.held.remove(l)
	ctx, cancel := l.s.ctx()
	defer cancel()
	if _, err := l.s.cli.Revoke(ctx, l.lease); err != nil && !errors.Is(err, rpctypes.ErrLeaseNotFound) {
		return l.s.errorf("unlock: %w (its lease is no longer kept alive: etcd deletes the locks within its TTL, %s)", err, l.s.ttl)
	}
	return nil
}
