package registry

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// TestEtcdEventsOfAnySize (found by review): events that etcd could not
// take in one request, even compressed, are kept in parts and read back
// whole; finishing one drops the parts its begun form had.
func TestEtcdEventsOfAnySize(t *testing.T) {
	endpoint := startReviewEtcd(t, "127.0.95.76")
	s, err := OpenEtcd(context.Background(), EtcdConfig{Endpoints: []string{endpoint}, Prefix: "/"})
	must(t, err)
	defer s.Close()
	noise := func(n int) string { b := make([]byte, n); rand.Read(b); return hex.EncodeToString(b) }
	ev := Event{Operator: "cron@ops1", Command: "restart", Target: "all", Service: "orchestrator-core"}
	for i := range 3000 {
		ev.Hosts = append(ev.Hosts, HostResult{Host: fmt.Sprintf("node%05d", i), Result: "untouched", Error: noise(500)}) // ~3 MB, incompressible
	}
	id, err := s.BeginEvent(ev)
	must(t, err)
	ev.ID, ev.Result = id, "unreachable"
	ev.Hosts[2999].Result = "unreachable"
	must(t, s.FinishEvent(ev))
	evs, err := s.Events(EventQuery{Hosts: []string{"node02999"}, Limit: 1})
	must(t, err)
	if len(evs) != 1 || !evs[0].Complete || len(evs[0].Hosts) != 3000 || evs[0].Hosts[2999].Result != "unreachable" ||
		evs[0].Hosts[5].Error != ev.Hosts[5].Error {
		t.Fatalf("history: %d events", len(evs))
	}
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{endpoint}, DialTimeout: 5 * time.Second})
	must(t, err)
	defer cli.Close()
	resp, err := cli.Get(context.Background(), "/eventparts/", clientv3.WithPrefix(), clientv3.WithKeysOnly())
	must(t, err)
	if n := len(resp.Kvs); n < 2 || n > 3 { // ~1.6 MB compressed in 1 MiB parts: those of the finished event only, not the begun one
		t.Fatalf("%d parts left", n)
	}
}
