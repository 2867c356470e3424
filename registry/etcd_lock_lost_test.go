package registry

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// TestEtcdLockLostIsSaid (found by review): a lock whose lease ends while
// held (etcd expired or revoked it) ends the handle's LockLost context at
// once, its cause a *LockLostError naming the keys; an unlock is not a
// loss.
func TestEtcdLockLostIsSaid(t *testing.T) {
	endpoint := startReviewEtcd(t, "127.0.95.74")
	s, err := OpenEtcd(context.Background(), EtcdConfig{Endpoints: []string{endpoint}})
	must(t, err)
	defer s.Close()
	unlock, err := s.Lock(context.Background(), []string{"web1/app"}, owner("alice"), 0)
	must(t, err)
	must(t, unlock())
	select {
	case <-s.LockLost().Done():
		t.Fatalf("an unlock was taken for a loss: %v", context.Cause(s.LockLost()))
	case <-time.After(300 * time.Millisecond):
	}
	_, err = s.Lock(context.Background(), []string{"web2/app"}, owner("alice"), 0)
	must(t, err)
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{endpoint}, DialTimeout: 5 * time.Second})
	must(t, err)
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	leases, err := cli.Leases(ctx)
	must(t, err)
	for _, l := range leases.Leases {
		cli.Revoke(ctx, l.ID)
	}
	select {
	case <-s.LockLost().Done():
	case <-time.After(3 * time.Second):
		t.Fatal("the lock's lease was revoked; LockLost did not end within 3s")
	}
	var lost *LockLostError
	if err := context.Cause(s.LockLost()); !errors.As(err, &lost) || !strings.Contains(err.Error(), "lost its lock on web2/app (etcd lease ended: ") {
		t.Fatalf("cause: %v", err)
	}
}

// TestEtcdUnreadableLockHolder (found by review): a lock whose record
// does not decode is held by an unknown holder, said so, not "locked by
// (pid 0 on , \"\") since 0001-01-01".
func TestEtcdUnreadableLockHolder(t *testing.T) {
	endpoint := startReviewEtcd(t, "127.0.95.77")
	s, err := OpenEtcd(context.Background(), EtcdConfig{Endpoints: []string{endpoint}})
	must(t, err)
	defer s.Close()
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{endpoint}, DialTimeout: 5 * time.Second})
	must(t, err)
	defer cli.Close()
	for key, v := range map[string]string{"web1/app": "not json", "web2/app": "{}"} {
		_, err := cli.Put(context.Background(), "/omni/locks/"+key, v)
		must(t, err)
		_, err = s.Lock(context.Background(), []string{key}, owner("alice"), 0)
		var locked *LockedError
		if !errors.As(err, &locked) || !strings.Contains(err.Error(), key+" is locked by an unknown holder (its lock record could not be read: ") {
			t.Errorf("%s holding %q: %v", key, v, err)
		}
	}
}
