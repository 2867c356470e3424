package registry

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"sync"
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
	l := &etcdLock{s: s, lease: lease.ID}
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
	}()
	err = retryLock(ctx, wait, func() (*LockedError, error) { return s.tryLock(ctx, keys, string(v), lease.ID) })
	if err != nil {
		l.unlock()
		return nil, err
	}
	s.held.add(l)
	return l.unlock, nil
}

// tryLock puts every key with lease if none exists, or returns who holds
// one of them.
func (s *Etcd) tryLock(ctx context.Context, keys []string, v string, lease clientv3.LeaseID) (*LockedError, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
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
		resp, err := s.cli.Txn(ctx).If(ifs...).Then(puts...).Else(gets...).Commit()
		if err != nil {
			return nil, errors.Join(s.errorf("lock: %w", err), s.untake(taken))
		}
		if resp.Succeeded {
			for _, k := range batch {
				taken = append(taken, s.lockKey(k))
			}
			continue
		}
		held := &LockedError{Key: batch[0]}
		for i, r := range resp.Responses {
			if kvs := r.GetResponseRange().GetKvs(); len(kvs) > 0 {
				var cur lockEntry
				json.Unmarshal(kvs[0].Value, &cur)
				held = &LockedError{Key: batch[i], Holder: cur.Owner}
				break
			}
		}
		return held, s.untake(taken)
	}
	return nil, nil
}

// untake deletes lock keys taken by earlier batches of a failed Lock.
func (s *Etcd) untake(keys []string) error {
	ctx, cancel := s.ctx()
	defer cancel()
	for len(keys) > 0 {
		batch := keys[:min(len(keys), etcdMaxTxnOps)]
		keys = keys[len(batch):]
		var dels []clientv3.Op
		for _, k := range batch {
			dels = append(dels, clientv3.OpDelete(k))
		}
		if _, err := s.cli.Txn(ctx).Then(dels...).Commit(); err != nil {
			return s.errorf("unlock: %w", err)
		}
	}
	return nil
}

// etcdLock is the locks taken by one Lock call: one lease.
type etcdLock struct {
	s     *Etcd
	lease clientv3.LeaseID
	stop  context.CancelFunc // stops the keep-alive

	mu       sync.Mutex
	released bool
}

// unlock revokes the lease, deleting the keys still attached to it. A
// lease already gone (expired) is not an error. Once it has succeeded, it
// does nothing.
func (l *etcdLock) unlock() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.released {
		return nil
	}
	l.stop()
	ctx, cancel := l.s.ctx()
	defer cancel()
	if _, err := l.s.cli.Revoke(ctx, l.lease); err != nil && !errors.Is(err, rpctypes.ErrLeaseNotFound) {
		return l.s.errorf("unlock: %w", err)
	}
	l.released = true
	l.s.held.remove(l)
	return nil
}
