package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/url"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
)

// startEtcd runs a real single-member etcd server on a loopback address
// with free ports, its data in a temporary directory, until the test ends.
// It returns the client URL.
func startEtcd(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	var lastErr error
	for attempt := range 5 {
		ip := fmt.Sprintf("127.0.4.%d", 1+rand.IntN(254))
		client := url.URL{Scheme: "http", Host: net.JoinHostPort(ip, freePort(t, ip))}
		peer := url.URL{Scheme: "http", Host: net.JoinHostPort(ip, freePort(t, ip))}
		cfg := embed.NewConfig()
		cfg.Name = "omni-test"
		cfg.Dir = filepath.Join(dir, fmt.Sprint("data", attempt))
		cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{client}, []url.URL{client}
		cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{peer}, []url.URL{peer}
		cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
		cfg.LogLevel = "error"
		cfg.LogOutputs = []string{filepath.Join(dir, "etcd.log")}
		cfg.UnsafeNoFsync = true // test data
		cfg.TickMs, cfg.ElectionMs = 50, 500
		e, err := embed.StartEtcd(cfg)
		if err != nil {
			lastErr = err // a port taken since freePort: try others
			continue
		}
		t.Cleanup(e.Close)
		select {
		case <-e.Server.ReadyNotify():
			return client.String()
		case err := <-e.Err():
			t.Fatalf("etcd: %v", err)
		case <-time.After(30 * time.Second):
			t.Fatal("etcd not ready after 30s")
		}
	}
	t.Fatalf("cannot start etcd: %v", lastErr)
	return ""
}

func freePort(t *testing.T, ip string) string {
	l, err := net.Listen("tcp", ip+":0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	_, port, _ := net.SplitHostPort(l.Addr().String())
	return port
}

func TestEtcdStore(t *testing.T) {
	t.Parallel()
	endpoint := startEtcd(t)
	var n atomic.Int32
	runStoreTests(t, func(t *testing.T) storeKit {
		cfg := EtcdConfig{
			Endpoints:   []string{endpoint},
			Prefix:      fmt.Sprintf("/omni-test/%d", n.Add(1)),
			DialTimeout: 5 * time.Second,
			LockTTL:     2 * time.Second,
		}
		spec, _ := json.Marshal(cfg)
		return storeKit{
			open: func(t *testing.T) Store {
				s, err := Open(context.Background(), "", &cfg)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { s.Close() })
				return s
			},
			spec:    "etcd:" + string(spec),
			reclaim: 10 * time.Second, // TTL 2s, expiry checked every 0.5s
		}
	})

	t.Run("Prefixes", func(t *testing.T) {
		a, err := OpenEtcd(context.Background(), EtcdConfig{Endpoints: []string{endpoint}, Prefix: "/team-a/"})
		must(t, err)
		defer a.Close()
		b, err := OpenEtcd(context.Background(), EtcdConfig{Endpoints: []string{endpoint}, Prefix: "/team-b"})
		must(t, err)
		defer b.Close()
		must(t, a.Put(Record{Host: "h", Service: "s", State: "running"}))
		if _, ok, _ := b.Get("h", "s"); ok {
			t.Fatal("team-b sees team-a's record")
		}
		if _, ok, _ := a.Get("h", "s"); !ok {
			t.Fatal("team-a lost its record")
		}
	})
}

func TestEtcdUnreachable(t *testing.T) {
	t.Parallel()
	ep := "http://" + net.JoinHostPort("127.0.4.1", freePort(t, "127.0.4.1")) // nobody listens
	start := time.Now()
	_, err := OpenEtcd(context.Background(), EtcdConfig{Endpoints: []string{ep}, DialTimeout: time.Second})
	if err == nil || !strings.Contains(err.Error(), ep) || time.Since(start) > 5*time.Second {
		t.Fatalf("err = %v after %s", err, time.Since(start))
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Logf("err: %v", err)
	}
}
