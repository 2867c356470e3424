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
