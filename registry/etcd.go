package registry

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync/atomic"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// EtcdConfig says how to reach the etcd cluster of a team's registry.
type EtcdConfig struct {
	Endpoints   []string      // "http://10.20.0.5:2379", "https://..." (verified with the system's CAs)
	Prefix      string        // where omni's keys live: "" is the default "/omni", "/" the root (see etcdPrefix)
	DialTimeout time.Duration // default 5s
	// LockTTL is the lease of run locks: how long a crashed run's locks
	// outlive it. Default 15s; etcd rounds it up to whole seconds and to
	// its minimum (2s with default settings).
	LockTTL time.Duration
}

const (
	defaultEtcdPrefix  = "/omni"
	defaultDialTimeout = 5 * time.Second
	defaultEtcdLockTTL = 15 * time.Second
	// etcdPage is how many keys one range request returns at most.
	etcdPage = 1000
	// etcdMaxTxnOps is etcd's default --max-txn-ops.
	etcdMaxTxnOps = 128
)

// Etcd is the Store of a team: records, events and locks in an etcd
// cluster, under PREFIX/records/HOST/SERVICE, PREFIX/events/ID and
// PREFIX/locks/HOST/SERVICE. Locks are attached to a lease kept alive
// while held, so a crashed run's locks disappear when the lease expires.
type Etcd struct {
	cli       *clientv3.Client
	endpoints string
	prefix    string        // prepended to "/records/...": "" for the root
	timeout   time.Duration // of one request
	ttl       time.Duration
	machine   string

	closed atomic.Bool
	held   heldLocks[*etcdLock]
	// lost ends when a lock of this handle is lost (LockLost).
	lost     context.Context
	loseLock func(*LockLostError)
}

// OpenEtcd connects to the cluster of cfg and checks that it answers
// within cfg.DialTimeout.
func OpenEtcd(ctx context.Context, cfg EtcdConfig) (*Etcd, error) {
	if len(cfg.Endpoints) == 0 {
		return nil, errors.New("registry: etcd: no endpoints")
	}
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = defaultDialTimeout
	}
	if cfg.LockTTL <= 0 {
		cfg.LockTTL = defaultEtcdLockTTL
	}
	prefix := etcdPrefix(cfg.Prefix)
	ccfg := clientv3.Config{
		Endpoints:   cfg.Endpoints,
		DialTimeout: cfg.DialTimeout,
		Logger:      zap.NewNop(), // errors are returned, never printed
	}
	for _, ep := range cfg.Endpoints {
		if strings.HasPrefix(ep, "https://") {
			ccfg.TLS = &tls.Config{MinVersion: tls.VersionTLS12}
		}
	}
	s := &Etcd{
		endpoints: strings.Join(cfg.Endpoints, ","),
		prefix:    prefix,
		timeout:   max(cfg.DialTimeout, 10*time.Second),
		ttl:       cfg.LockTTL,
		machine:   thisMachine(),
	}
	lost, lose := context.WithCancelCause(context.Background())
	s.lost, s.loseLock = lost, func(e *LockLostError) { lose(e) }
	cli, err := clientv3.New(ccfg)
	if err != nil {
		return nil, s.unusable(diagnose(ctx, cfg.Endpoints, cfg.DialTimeout, err))
	}
	s.cli = cli
	cctx, cancel := context.WithTimeout(ctx, cfg.DialTimeout)
	defer cancel()
	if _, err := cli.Get(cctx, s.prefix+"/", clientv3.WithPrefix(), clientv3.WithCountOnly()); err != nil {
		cli.Close()
		if ctx.Err() != nil { // interrupted
			return nil, s.errorf("%w", ctx.Err())
		}
		return nil, s.unusable(diagnose(ctx, cfg.Endpoints, cfg.DialTimeout, err))
	}
	return s, nil
}

// etcdPrefix is what the keys of prefix p start with, before
// "/records/...": an unset prefix ("") is the default /omni; "/" is the
// root of the keyspace (keys /records/...), so it is ""; repeated slashes
// collapse and a trailing one goes ("/team//a/" is "/team/a").
func etcdPrefix(p string) string {
	if p == "" {
		return defaultEtcdPrefix
	}
	for strings.Contains(p, "//") {
		p = strings.ReplaceAll(p, "//", "/")
	}
	return strings.TrimSuffix(p, "/")
}

// prefixName is the prefix as messages say it: "/" for the root.
func (s *Etcd) prefixName() string {
	if s.prefix == "" {
		return "/"
	}
	return s.prefix
}

// unusable is the error of a cluster that cannot be used at open.
func (s *Etcd) unusable(err error) error {
	return &EtcdError{Endpoints: s.endpoints, Prefix: s.prefixName(), Err: err}
}

func (s *Etcd) errorf(format string, args ...any) error {
	return fmt.Errorf("registry etcd %s (prefix %s): %w", s.endpoints, s.prefixName(), fmt.Errorf(format, args...))
}

// Close releases the locks this handle still holds and disconnects.
func (s *Etcd) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	return errors.Join(s.held.unlockAll(), s.cli.Close())
}

func (s *Etcd) check() error {
	if s.closed.Load() {
		return errClosed
	}
	return nil
}

func (s *Etcd) ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), s.timeout)
}

func (s *Etcd) recordKey(host, service string) string {
	return s.prefix + "/records/" + LockKey(host, service)
}
func (s *Etcd) eventKey(id string) string { return s.prefix + "/events/" + id }
func (s *Etcd) lockKey(key string) string { return s.prefix + "/locks/" + key }

func (s *Etcd) decode(what, key string, v []byte, into any) error {
	if err := json.Unmarshal(v, into); err != nil {
		return s.errorf("bad %s at %s: %v", what, key, err)
	}
	return nil
}

// Get implements Registry.
func (s *Etcd) Get(host, service string) (Record, bool, error) {
	var rec Record
	if err := s.check(); err != nil {
		return rec, false, err
	}
	ctx, cancel := s.ctx()
	defer cancel()
	key := s.recordKey(host, service)
	resp, err := s.cli.Get(ctx, key)
	if err != nil {
		return rec, false, s.errorf("%w", err)
	}
	if len(resp.Kvs) == 0 {
		return rec, false, nil
	}
	return rec, true, s.decode("record", key, resp.Kvs[0].Value, &rec)
}

// Put implements Registry.
func (s *Etcd) Put(rec Record) error {
	if err := s.check(); err != nil {
		return err
	}
	if rec.Host == "" || rec.Service == "" {
		return fmt.Errorf("registry: record without host or service: %+v", rec)
	}
	v, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	ctx, cancel := s.ctx()
	defer cancel()
	if _, err := s.cli.Put(ctx, s.recordKey(rec.Host, rec.Service), string(v)); err != nil {
		return s.errorf("%w", err)
	}
	return nil
}

// List implements Registry.
func (s *Etcd) List() ([]Record, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	var out []Record
	from, end := s.prefix+"/records/", clientv3.GetPrefixRangeEnd(s.prefix+"/records/")
	for {
		ctx, cancel := s.ctx()
		resp, err := s.cli.Get(ctx, from, clientv3.WithRange(end), clientv3.WithLimit(etcdPage),
			clientv3.WithSort(clientv3.SortByKey, clientv3.SortAscend))
		cancel()
		if err != nil {
			return nil, s.errorf("%w", err)
		}
		for _, kv := range resp.Kvs {
			var rec Record
			if err := s.decode("record", string(kv.Key), kv.Value, &rec); err != nil {
				return nil, err
			}
			out = append(out, rec)
		}
		if !resp.More || len(resp.Kvs) == 0 {
			break
		}
		from = string(resp.Kvs[len(resp.Kvs)-1].Key) + "\x00"
	}
	sortRecords(out)
	return out, nil
}

// BeginEvent implements Store. The ID's suffix is random; a transaction
// that puts the event only if its key is new makes it unique.
func (s *Etcd) BeginEvent(ev Event) (string, error) {
	if err := s.check(); err != nil {
		return "", err
	}
	ev = beginning(ev)
	for {
		ev.ID = eventID(ev.Started, rand.Uint32())
		v, token, err := s.putEventParts(ev)
		if err != nil {
			return "", err
		}
		key := s.eventKey(ev.ID)
		ctx, cancel := s.ctx()
		resp, err := s.cli.Txn(ctx).
			If(clientv3.Compare(clientv3.CreateRevision(key), "=", 0)).
			Then(clientv3.OpPut(key, string(v))).
			Commit()
		cancel()
		if err != nil || !resp.Succeeded {
			s.dropParts(ev.ID, token)
		}
		if err != nil {
			return "", s.errorf("%w", err)
		}
		if resp.Succeeded {
			return ev.ID, nil
		}
	}
}

// FinishEvent implements Store.
func (s *Etcd) FinishEvent(ev Event) error {
	if err := s.check(); err != nil {
		return err
	}
	if ev.ID == "" {
		return errors.New("registry: FinishEvent without an event ID")
	}
	ctx, cancel := s.ctx()
	defer cancel()
	key := s.eventKey(ev.ID)
	resp, err := s.cli.Get(ctx, key)
	if err != nil {
		return s.errorf("%w", err)
	}
	if len(resp.Kvs) == 0 {
		return s.errorf("no event %q", ev.ID)
	}
	head := resp.Kvs[0].Value
	oldJSON, err := s.eventJSON(ctx, key, head)
	if err != nil {
		return err
	}
	var old Event
	if err := s.decode("event", key, oldJSON, &old); err != nil {
		return err
	}
	v, token, err := s.putEventParts(finishing(ev, old))
	if err != nil {
		return err
	}
	// Only over the version read, so a concurrent delete is not undone.
	tctx, tcancel := s.ctx() // a request of its own, after the parts'
	defer tcancel()
	txn, err := s.cli.Txn(tctx).
		If(clientv3.Compare(clientv3.ModRevision(key), "=", resp.Kvs[0].ModRevision)).
		Then(clientv3.OpPut(key, string(v))).
		Commit()
	if err != nil || !txn.Succeeded {
		s.dropParts(ev.ID, token)
	}
	if err != nil {
		return s.errorf("%w", err)
	}
	if !txn.Succeeded {
		return s.errorf("event %q changed while being finished", ev.ID)
	}
	s.dropParts(ev.ID, headToken(head)) // the parts the head named before
	return nil
}

// eventValue is eventJSON with a request timeout of its own.
func (s *Etcd) eventValue(key string, head []byte) ([]byte, error) {
	if len(head) > 0 && head[0] == '{' {
		return head, nil
	}
	ctx, cancel := s.ctx()
	defer cancel()
	return s.eventJSON(ctx, key, head)
}

// Events implements Store: pages of keys in descending order, from the
// newest down to q.Since.
func (s *Etcd) Events(q EventQuery) ([]Event, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	base := s.prefix + "/events/"
	from, end := base, clientv3.GetPrefixRangeEnd(base)
	if !q.Since.IsZero() {
		from = base + sinceKey(q.Since)
	}
	var out []Event
	may := q.mayMatch()
	for {
		ctx, cancel := s.ctx()
		resp, err := s.cli.Get(ctx, from, clientv3.WithRange(end), clientv3.WithLimit(etcdPage),
			clientv3.WithSort(clientv3.SortByKey, clientv3.SortDescend))
		cancel()
		if err != nil {
			return nil, s.errorf("%w", err)
		}
		for _, kv := range resp.Kvs {
			v, err := s.eventValue(string(kv.Key), kv.Value)
			if err != nil {
				return nil, err
			}
			if !may(v) {
				continue
			}
			var ev Event
			if err := s.decode("event", string(kv.Key), v, &ev); err != nil {
				return nil, err
			}
			if !q.matches(&ev) {
				continue
			}
			out = append(out, ev)
			if q.Limit > 0 && len(out) == q.Limit {
				return out, nil
			}
		}
		if !resp.More || len(resp.Kvs) == 0 {
			return out, nil
		}
		end = string(resp.Kvs[len(resp.Kvs)-1].Key) // exclusive
	}
}
