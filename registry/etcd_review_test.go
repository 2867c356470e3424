package registry

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
)

// startReviewEtcd is startEtcd on a given loopback address.
func startReviewEtcd(t *testing.T, ip string) string {
	url, _ := startStoppableEtcd(t, ip)
	return url
}

type stopper func()

// startStoppableEtcd is startReviewEtcd that also returns the server, so
// that a test can stop it (etcd going away mid-run).
func startStoppableEtcd(t *testing.T, ip string) (string, stopper) {
	t.Helper()
	dir := t.TempDir()
	client := url.URL{Scheme: "http", Host: net.JoinHostPort(ip, freePort(t, ip))}
	peer := url.URL{Scheme: "http", Host: net.JoinHostPort(ip, freePort(t, ip))}
	cfg := embed.NewConfig()
	cfg.Name = "omni-review"
	cfg.Dir = filepath.Join(dir, "data")
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{client}, []url.URL{client}
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{peer}, []url.URL{peer}
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	cfg.LogLevel = "error"
	cfg.LogOutputs = []string{filepath.Join(dir, "etcd.log")}
	cfg.UnsafeNoFsync = true
	cfg.TickMs, cfg.ElectionMs = 50, 500
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		t.Fatalf("etcd: %v", err)
	}
	var once sync.Once
	stop := func() { once.Do(e.Close) }
	t.Cleanup(stop)
	select {
	case <-e.Server.ReadyNotify():
	case <-time.After(30 * time.Second):
		t.Fatal("etcd not ready after 30s")
	}
	return client.String(), stop
}

// TestEtcdRecordsTheEventOfALargeFleetRun (found by review): a fleet run
// over a 10,000-host role (omni plans and benchmarks such inventories)
// that finds every host unreachable (the night the network failed, when
// the history matters most) has a run event of about 2 MB. The embedded
// store records it; etcd refuses any request over its default 1.5 MiB
// limit, so FinishEvent fails and the run stays "incomplete" forever on
// a team's registry. Both stores must record the same runs.
func TestEtcdRecordsTheEventOfALargeFleetRun(t *testing.T) {
	endpoint := startReviewEtcd(t, "127.0.95.70")
	stores := map[string]Store{}
	e, err := OpenEtcd(context.Background(), EtcdConfig{Endpoints: []string{endpoint}})
	must(t, err)
	defer e.Close()
	stores["etcd"] = e
	b, err := OpenBolt(filepath.Join(t.TempDir(), "registry.db"))
	must(t, err)
	defer b.Close()
	stores["bolt"] = b
	for name, s := range stores {
		ev := Event{Operator: "cron@ops1", Command: "restart all orchestrator-core", Target: "all", Service: "orchestrator-core"}
		for i := range 10000 {
			ev.Hosts = append(ev.Hosts, HostResult{Host: fmt.Sprintf("node%05d", i), Result: "untouched"})
		}
		id, err := s.BeginEvent(ev)
		if err != nil {
			t.Fatalf("%s: begin: %v", name, err)
		}
		ev.ID, ev.Result, ev.HostEvents = id, "unreachable", true
		for i := range ev.Hosts {
			h := &ev.Hosts[i]
			addr := fmt.Sprintf("10.%d.%d.%d:22", 20+i/65536, i/256%256, i%256)
			h.Result = "unreachable"
			h.Error = fmt.Sprintf("%s (%s): unreachable: dial tcp %s: connect: no route to host", h.Host, addr, addr)
			h.Event = eventID(time.Now(), uint32(i))
		}
		if err := s.FinishEvent(ev); err != nil {
			t.Errorf("%s: the run's event of a 10,000-host fleet is not recorded: %.300v", name, err)
			continue
		}
		evs, err := s.Events(EventQuery{Limit: 1})
		if err != nil || len(evs) != 1 || !evs[0].Complete || len(evs[0].Hosts) != 10000 {
			t.Errorf("%s: history after the run: %v", name, err)
		}
	}
}

// TestEtcdGoneReleaseCostsOneTimeout (found by review): when etcd goes
// away during a run, the run's unlock (revoking its lease) waits the
// request timeout (10 s) and fails; Close, right after, revokes the same
// lease again and waits another 10 s. A one-host restart whose etcd died
// mid-run took 42 s: record 10 s, final event 10 s, then the lock twice.
// A lease whose revoke just timed out need not be waited for again: it
// expires on its own.
func TestEtcdGoneReleaseCostsOneTimeout(t *testing.T) {
	endpoint, stop := startStoppableEtcd(t, "127.0.95.71")
	s, err := OpenEtcd(context.Background(), EtcdConfig{Endpoints: []string{endpoint}})
	must(t, err)
	unlock, err := s.Lock(context.Background(), []string{"web1/app"}, owner("alice"), 0)
	must(t, err)
	stop()
	start := time.Now()
	uerr := unlock()
	cerr := s.Close()
	if took := time.Since(start); took > 15*time.Second {
		t.Fatalf("releasing one lock with etcd gone took %s (unlock: %v; close: %v), want one request timeout (10s)", took.Round(time.Second), uerr, cerr)
	}
}

// delayProxy forwards TCP connections from a listener on ip to target,
// each chunk of bytes d after it was read, in each direction: an etcd
// cluster d×2 of round trip away (another region's).
func delayProxy(t *testing.T, ip, target string, d time.Duration) string {
	t.Helper()
	l, err := net.Listen("tcp", ip+":0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	pipe := func(dst, src net.Conn) {
		type chunk struct {
			due time.Time
			b   []byte
		}
		q := make(chan chunk, 4096)
		go func() {
			defer close(q)
			for {
				b := make([]byte, 64<<10)
				n, err := src.Read(b)
				if n > 0 {
					q <- chunk{time.Now().Add(d), b[:n]}
				}
				if err != nil {
					return
				}
			}
		}()
		for c := range q {
			time.Sleep(time.Until(c.due))
			if _, err := dst.Write(c.b); err != nil {
				break
			}
		}
		dst.Close()
		src.Close()
	}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			u, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			go pipe(u, c)
			go pipe(c, u)
		}
	}()
	return "http://" + l.Addr().String()
}

// TestEtcdLockOfALargeFleetOverAWAN (found by review): the run lock of a
// fleet run over a 10,000-host inventory (two keys a host: the service
// and the one it requires, checked by check-deps) is 157 transactions of
// 128 keys, one after another, all within one request timeout (10 s).
// With the team's etcd 80 ms away, they need about 13 s, so the lock
// always fails ("lock: context deadline exceeded", exit 1) and such a run
// can never start, however long --lock-timeout is. Each transaction is a
// request and should have the request timeout of its own.
func TestEtcdLockOfALargeFleetOverAWAN(t *testing.T) {
	endpoint := startReviewEtcd(t, "127.0.95.73")
	u, _ := url.Parse(endpoint)
	far := delayProxy(t, "127.0.95.72", u.Host, 40*time.Millisecond)
	s, err := OpenEtcd(context.Background(), EtcdConfig{Endpoints: []string{far}})
	must(t, err)
	defer s.Close()
	var keys []string
	for i := range 10000 {
		keys = append(keys, fmt.Sprintf("node%05d/orchestrator-core", i), fmt.Sprintf("node%05d/network-agent", i))
	}
	start := time.Now()
	unlock, err := s.Lock(context.Background(), keys, owner("cron"), 0)
	if err != nil {
		t.Fatalf("the lock of a 10,000-host fleet run, etcd 80 ms away: %v after %s", err, time.Since(start).Round(time.Millisecond))
	}
	must(t, unlock())
}
