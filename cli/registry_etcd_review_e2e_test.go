package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/omni-fleet/omni/internal/testkit/testfleet"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
)

// reviewEtcd is a real single-member etcd server on ip, its data in dir,
// started with opts applied to its configuration.
type reviewEtcd struct {
	t      *testing.T
	ip     string
	dir    string
	client url.URL
	peer   url.URL
	opts   func(*embed.Config)
	mu     sync.Mutex
	e      *embed.Etcd
}

func startReviewEtcd(t *testing.T, ip string, opts func(*embed.Config)) *reviewEtcd {
	t.Helper()
	scheme := "http"
	probe := embed.NewConfig()
	if opts != nil {
		opts(probe)
		if probe.ClientAutoTLS {
			scheme = "https"
		}
	}
	r := &reviewEtcd{t: t, ip: ip, dir: t.TempDir(), opts: opts,
		client: url.URL{Scheme: scheme, Host: net.JoinHostPort(ip, etcdFreePort(t, ip))},
		peer:   url.URL{Scheme: "http", Host: net.JoinHostPort(ip, etcdFreePort(t, ip))}}
	r.start()
	t.Cleanup(r.stop)
	return r
}

func etcdFreePort(t *testing.T, ip string) string {
	l, err := net.Listen("tcp", ip+":0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	_, port, _ := net.SplitHostPort(l.Addr().String())
	return port
}

func (r *reviewEtcd) start() {
	r.t.Helper()
	cfg := embed.NewConfig()
	cfg.Name = "omni-review"
	cfg.Dir = filepath.Join(r.dir, "data")
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{r.client}, []url.URL{r.client}
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{r.peer}, []url.URL{r.peer}
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	cfg.LogLevel = "error"
	cfg.LogOutputs = []string{filepath.Join(r.dir, "etcd.log")}
	cfg.UnsafeNoFsync = true
	cfg.TickMs, cfg.ElectionMs = 50, 500
	if r.opts != nil {
		r.opts(cfg)
	}
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		r.t.Fatalf("etcd: %v", err)
	}
	select {
	case <-e.Server.ReadyNotify():
	case err := <-e.Err():
		r.t.Fatalf("etcd: %v", err)
	case <-time.After(30 * time.Second):
		r.t.Fatal("etcd not ready after 30s")
	}
	r.mu.Lock()
	r.e = e
	r.mu.Unlock()
}

func (r *reviewEtcd) stop() {
	r.mu.Lock()
	e := r.e
	r.e = nil
	r.mu.Unlock()
	if e != nil {
		e.Close()
	}
}

func (r *reviewEtcd) URL() string { return r.client.String() }

// etcdInventory is the fleet's inventory with its registry on etcd.
func etcdInventory(f *testfleet.Fleet, name string, endpoints []string, prefix string) string {
	var q []string
	for _, e := range endpoints {
		q = append(q, fmt.Sprintf("%q", e))
	}
	body := "  etcd:\n    endpoints: [" + strings.Join(q, ", ") + "]\n"
	if prefix != "" {
		body += "    prefix: " + prefix + "\n"
	}
	return f.Variant(name, "  path: "+f.Dir+"/state.json\n", body)
}

func omniAt(ctx context.Context, inv string, args ...string) (string, string, int, time.Duration) {
	s, out, errOut := TestStreams("", false)
	start := time.Now()
	code := Run(ctx, append([]string{"-i", inv, "--ssh-config", "none"}, args...), s)
	return out.String(), errOut.String(), code, time.Since(start)
}

// TestEtcdRootPrefixIsNotTheDefault (found by review): an inventory whose
// registry.etcd.prefix is "/" keeps its records, events and locks under
// "/", not silently under the default "/omni" that every inventory without
// a prefix shares.
func TestEtcdRootPrefixIsNotTheDefault(t *testing.T) {
	e := startReviewEtcd(t, "127.0.95.30", nil)
	f := testfleet.Start(t, testfleet.Options{BastionAddr: "127.0.95.31", WorkerAddr: "127.0.95.32"})
	root := etcdInventory(f, "root.yaml", []string{e.URL()}, "/")
	other := etcdInventory(f, "default.yaml", []string{e.URL()}, "")

	if out, errOut, code, _ := omniAt(context.Background(), root, "service", "start", "primary-bastion", "network-agent"); code != 0 {
		t.Fatalf("start: exit %d\n%s%s", code, out, errOut)
	}
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{e.URL()}, DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := cli.Get(ctx, "/", clientv3.WithPrefix(), clientv3.WithKeysOnly())
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, kv := range resp.Kvs {
		keys = append(keys, string(kv.Key))
	}
	out, errOut, code, _ := omniAt(context.Background(), other, "-o", "json", "service", "history", "primary-bastion", "network-agent")
	var hist struct{ Events []json.RawMessage }
	if code != 0 || json.Unmarshal([]byte(out), &hist) != nil {
		t.Fatalf("history of the default prefix: exit %d\n%s%s", code, out, errOut)
	}
	if len(hist.Events) != 0 || !slicesContain(keys, "/records/primary-bastion/network-agent") {
		t.Fatalf("the inventory with prefix / wrote its keys %q; the inventory with the default prefix /omni sees its %d events", keys, len(hist.Events))
	}
}

func slicesContain(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// TestEtcdCertificateNotTrustedIsSaid (found by review): an https etcd
// whose certificate the system's CAs do not verify (a team's private CA)
// answers at once; omni must say the certificate was refused, as a
// configuration to fix (exit 2, like a registry file it cannot use), not
// "no answer within 5s: timed out" (exit 1, a failed run).
func TestEtcdCertificateNotTrustedIsSaid(t *testing.T) {
	e := startReviewEtcd(t, "127.0.95.33", func(c *embed.Config) {
		c.ClientAutoTLS = true
		c.SelfSignedCertValidity = 1
	})
	f := testfleet.Start(t, testfleet.Options{BastionAddr: "127.0.95.34", WorkerAddr: "127.0.95.35"})
	inv := etcdInventory(f, "tls.yaml", []string{e.URL()}, "")
	out, errOut, code, took := omniAt(context.Background(), inv, "service", "start", "primary-bastion", "network-agent")
	if code != ExitUsage || !strings.Contains(errOut, "certificate") || strings.Contains(errOut, "no answer") {
		t.Fatalf("etcd at %s with a self-signed certificate: exit %d after %s, want %d saying the certificate is not trusted\nstdout:\n%sstderr:\n%s",
			e.URL(), code, took.Round(time.Millisecond), ExitUsage, out, errOut)
	}
}

// TestEtcdAuthenticationRequiredIsSaid (found by review): an etcd cluster
// with authentication enabled refuses omni at once ("user name is
// empty"); omni must say that it needs authentication (a configuration
// it does not support, exit 2), not that the cluster gave "no answer
// within 5s" (exit 1).
func TestEtcdAuthenticationRequiredIsSaid(t *testing.T) {
	e := startReviewEtcd(t, "127.0.95.36", nil)
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{e.URL()}, DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := cli.UserAdd(ctx, "root", "secret"); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.UserGrantRole(ctx, "root", "root"); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.AuthEnable(ctx); err != nil {
		t.Fatal(err)
	}
	cli.Close()
	f := testfleet.Start(t, testfleet.Options{BastionAddr: "127.0.95.37", WorkerAddr: "127.0.95.38"})
	inv := etcdInventory(f, "auth.yaml", []string{e.URL()}, "")
	out, errOut, code, took := omniAt(context.Background(), inv, "service", "start", "primary-bastion", "network-agent")
	if code != ExitUsage || strings.Contains(errOut, "no answer") || !strings.Contains(strings.ToLower(errOut), "authentication") {
		t.Fatalf("etcd with authentication: exit %d after %s, want %d saying it needs authentication\nstdout:\n%sstderr:\n%s",
			code, took.Round(time.Millisecond), ExitUsage, out, errOut)
	}
}

// TestEtcdDownIsNotAServiceDown (found by review): `service status` is a
// check monitoring runs; when the team's etcd registry does not answer it
// must not exit 1, the code of "a listed service is not running and
// healthy", but as the file store does when its registry cannot be used
// (exit 2), naming the registry.
func TestEtcdDownIsNotAServiceDown(t *testing.T) {
	f := testfleet.Start(t, testfleet.Options{BastionAddr: "127.0.95.39", WorkerAddr: "127.0.95.40"})
	mustRun(t, f, "service", "start", "primary-bastion", "network-agent")
	mustRun(t, f, "service", "status", "primary-bastion", "network-agent") // healthy: exit 0
	dead := "http://" + net.JoinHostPort("127.0.95.41", etcdFreePort(t, "127.0.95.41"))
	inv := etcdInventory(f, "dead.yaml", []string{dead}, "")
	out, errOut, code, took := omniAt(context.Background(), inv, "service", "status", "primary-bastion", "network-agent")
	if code != ExitUsage || !strings.Contains(errOut, dead) {
		t.Fatalf("status with etcd down: exit %d after %s, want %d naming %s (not 1: the service is running and healthy)\nstdout:\n%sstderr:\n%s",
			code, took.Round(time.Millisecond), ExitUsage, dead, out, errOut)
	}
}

// TestEtcdEndpointThatCannotWorkIsAnInventoryError (found by review): an
// etcd endpoint no client can ever reach (a misspelt scheme, no port, a
// port out of range) passes `inventory check` and makes every run wait
// 5 s for "no answer"; it must be refused at load with FILE:LINE, exit 2,
// as every other inventory mistake is.
func TestEtcdEndpointThatCannotWorkIsAnInventoryError(t *testing.T) {
	f := testfleet.Start(t, testfleet.Options{BastionAddr: "127.0.95.42", WorkerAddr: "127.0.95.43"})
	for _, ep := range []string{"htp://127.0.95.44:2379", "http://127.0.95.44", "http://127.0.95.44:99999"} {
		inv := etcdInventory(f, "bad-endpoint.yaml", []string{ep}, "")
		out, errOut, code, _ := omniAt(context.Background(), inv, "inventory", "check")
		if code != ExitUsage || !strings.Contains(errOut, "bad-endpoint.yaml:") || !strings.Contains(errOut, ep) {
			t.Errorf("inventory check with etcd endpoint %q: exit %d, want %d naming FILE:LINE and the endpoint\nstdout:\n%sstderr:\n%s", ep, code, ExitUsage, out, errOut)
		}
	}
}

// TestEtcdRunThatLostItsLockTouchesNoNewHost (found by review): a fleet
// run whose etcd lease is gone (cut off from etcd for longer than the
// TTL: etcd deleted its locks, and its keep-alive is told so) must not go
// on to touch hosts it no longer holds: another run may have taken them.
// Here, after worker1 is done, the run's lease ends, a second run
// restarts worker3 under its own lock, and the first then restarts
// worker3 again, both runs acting on the same service.
func TestEtcdRunThatLostItsLockTouchesNoNewHost(t *testing.T) {
	e := startReviewEtcd(t, "127.0.95.45", nil)
	f := testfleet.Start(t, testfleet.Options{BastionAddr: "127.0.95.46", WorkerAddr: "127.0.95.47",
		MoreWorkers: []string{"127.0.95.48", "127.0.95.49"}})
	mustRun(t, f, "service", "start", "worker", "network-agent")
	mustRun(t, f, "service", "start", "worker", "container-runtime")
	inv := etcdInventory(f, "etcd.yaml", []string{e.URL()}, "")
	before := countStarts(t, f, "worker3", "container-runtime")

	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{e.URL()}, DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	expire := func() { // what etcd does to the run's lease once it has heard nothing for the TTL
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		leases, err := cli.Leases(ctx)
		if err != nil {
			t.Error(err)
			return
		}
		for _, l := range leases.Leases {
			cli.Revoke(ctx, l.ID)
		}
	}
	second := make(chan string, 1)
	var once sync.Once
	aErr := &cancelOn{marker: "worker1: done in", cancel: func() {}}
	aErr.cancel = func() {
		once.Do(func() {
			go func() {
				expire()
				out, errOut, code, _ := omniAt(context.Background(), inv, "service", "restart", "worker3", "container-runtime", "--yes")
				second <- fmt.Sprintf("exit %d\n%s%s", code, out, errOut)
			}()
		})
	}
	s := Streams{In: strings.NewReader(""), Out: &strings.Builder{}, Err: aErr, NoColor: true}
	code := Run(context.Background(), []string{"-i", inv, "--ssh-config", "none", "service", "restart", "worker", "container-runtime",
		"--yes", "--batch", "1", "--min-ready", "3s"}, s)
	var b string
	select {
	case b = <-second:
	case <-time.After(60 * time.Second):
		t.Fatalf("the second run did not end\nfirst run: exit %d\n%s", code, aErr.String())
	}
	if got := countStarts(t, f, "worker3", "container-runtime") - before; got != 1 {
		t.Fatalf("worker3's container-runtime started %d times, want once: the first run went on after its lock was gone\nfirst run: exit %d\n%s\n%s\nsecond run (worker3): %s",
			got, code, s.Out, aErr.String(), b)
	}
}

// TestEtcdRecordKeepsFieldsOfANewerOmni (found by review): on a team's
// etcd, operators run different omni versions. A record's fields that
// this omni does not know (written by a newer one, as `config` and
// `drained` once were new) must survive its record step's update; today
// it decodes the record into its own struct and writes it back without
// them, so an older omni erases what a newer one recorded.
func TestEtcdRecordKeepsFieldsOfANewerOmni(t *testing.T) {
	e := startReviewEtcd(t, "127.0.95.50", nil)
	f := testfleet.Start(t, testfleet.Options{BastionAddr: "127.0.95.51", WorkerAddr: "127.0.95.52"})
	inv := etcdInventory(f, "etcd.yaml", []string{e.URL()}, "/team")
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{e.URL()}, DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	key := "/team/records/primary-bastion/network-agent"
	newer := `{"host":"primary-bastion","service":"network-agent","state":"stopped","updated_at":"2026-12-01T00:00:00Z","maintenance":{"by":"alice@ops1","until":"2026-12-31T00:00:00Z"}}`
	if _, err := cli.Put(ctx, key, newer); err != nil {
		t.Fatal(err)
	}
	if out, errOut, code, _ := omniAt(context.Background(), inv, "service", "start", "primary-bastion", "network-agent"); code != 0 {
		t.Fatalf("start: exit %d\n%s%s", code, out, errOut)
	}
	resp, err := cli.Get(ctx, key)
	if err != nil || len(resp.Kvs) != 1 {
		t.Fatalf("record: %v", err)
	}
	var rec map[string]json.RawMessage
	if err := json.Unmarshal(resp.Kvs[0].Value, &rec); err != nil {
		t.Fatal(err)
	}
	if string(rec["state"]) != `"running"` || rec["maintenance"] == nil {
		t.Fatalf("the record step wrote %s over %s: the newer omni's field is lost", resp.Kvs[0].Value, newer)
	}
}
