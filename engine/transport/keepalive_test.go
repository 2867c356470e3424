package transport_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/omni-fleet/omni/engine/transport"
	"github.com/omni-fleet/omni/internal/testkit/sshtest"
)

// The window the tests give keepalives: one every second, two missed.
const (
	testAliveInterval = time.Second
	testAliveCountMax = 2
	// lostWithin bounds how long after the link drops a command on it
	// fails: the tick that sends the first unanswered keepalive, the
	// window (2 s), and slack for a loaded machine.
	lostWithin = testAliveInterval + testAliveInterval*testAliveCountMax + 6*time.Second
)

// behindProxy is srv's endpoint reached through a black-hole proxy of its
// own on proxyAddr, with the test keepalives; known_hosts vouches for the
// server's key at the proxy's address.
func behindProxy(t *testing.T, srv *sshtest.Server, name, proxyAddr string) (transport.Endpoint, *sshtest.Proxy) {
	t.Helper()
	proxy := sshtest.StartProxy(t, proxyAddr, srv.HostPort())
	knownHosts := filepath.Join(t.TempDir(), "known_hosts")
	writeFile(t, knownHosts, knownHostsLine(proxy.HostPort(), srv.HostKeys()[0]))
	ep := srv.Endpoint(name)
	ep.Address, ep.Port, ep.KnownHosts = proxy.Addr, proxy.Port, knownHosts
	ep.ServerAliveInterval, ep.ServerAliveCountMax = testAliveInterval, testAliveCountMax
	return ep, proxy
}

// inFlight starts cmd with run and waits until it has created marker on
// the host (loopback: the same file system), so that the command is
// running when the test drops the link. The result arrives on the channel.
func inFlight(t *testing.T, marker string, run func(ctx context.Context, cmd string) error) <-chan error {
	t.Helper()
	result := make(chan error, 1)
	go func() { result <- run(testContext(t), "touch "+marker+"; sleep 60") }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := os.Stat(marker); err == nil {
			return result
		}
		select {
		case err := <-result:
			t.Fatalf("command ended before the link dropped: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("the command did not start within 10s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// wantLost waits for a command's outcome after the link dropped at
// dropped: an *UnreachableError naming host that says why, within
// lostWithin.
func wantLost(t *testing.T, what string, result <-chan error, dropped time.Time, host, why string) {
	t.Helper()
	select {
	case err := <-result:
		took := time.Since(dropped)
		var unreachable *transport.UnreachableError
		if !errors.As(err, &unreachable) || unreachable.Host != host || !strings.Contains(err.Error(), why) {
			t.Errorf("%s: %v, want %s unreachable: ...%s...", what, err, host, why)
		}
		if took > lostWithin {
			t.Errorf("%s: failed %s after the link dropped, want within %s", what, took.Round(time.Millisecond), lostWithin)
		}
		t.Logf("%s: %v (after %s)", what, err, took.Round(time.Millisecond))
	case <-time.After(lostWithin + 10*time.Second):
		t.Fatalf("%s: still waiting %s after the link dropped", what, lostWithin+10*time.Second)
	}
}

// TestKeepaliveDeclaresABlackHoledHostLost: the link to a host drops
// while commands run on it (one in the connection's shell, one in a
// session of its own): both fail within the keepalive window, as
// unreachable, saying why; so does the next command, at once.
func TestKeepaliveDeclaresABlackHoledHostLost(t *testing.T) {
	t.Parallel()
	srv := sshtest.Start(t, sshtest.Options{Addr: "127.0.145.1"})
	ep, proxy := behindProxy(t, srv, "worker1", "127.0.145.2")
	client := connect(t, newPool(t, transport.Options{}), ep)
	dir := t.TempDir()

	shellRun := inFlight(t, filepath.Join(dir, "run"), func(ctx context.Context, cmd string) error {
		_, err := client.Run(ctx, cmd)
		return err
	})
	stream := inFlight(t, filepath.Join(dir, "stream"), func(ctx context.Context, cmd string) error {
		_, err := client.Stream(ctx, cmd, nil, nil)
		return err
	})
	proxy.Drop()
	dropped := time.Now()
	const why = "connection lost during command: no answer to 2 keepalives in 2s"
	wantLost(t, "Run", shellRun, dropped, "worker1", why)
	wantLost(t, "Stream", stream, dropped, "worker1", why)

	began := time.Now()
	_, err := client.Run(testContext(t), "true")
	var unreachable *transport.UnreachableError
	if !errors.As(err, &unreachable) || time.Since(began) > time.Second {
		t.Errorf("Run on the lost connection: %v after %s, want *UnreachableError at once", err, time.Since(began))
	}
}

// TestKeepaliveThroughBastion: the bastion's link drops while a command
// runs on a host behind it. The host's own keepalives are off: it is the
// bastion's that find the link dead, and the host is declared lost with
// it, naming the bastion.
func TestKeepaliveThroughBastion(t *testing.T) {
	t.Parallel()
	bastionSrv := sshtest.Start(t, sshtest.Options{Addr: "127.0.145.3"})
	workerSrv := sshtest.Start(t, sshtest.Options{Addr: "127.0.145.5"})
	bastion, proxy := behindProxy(t, bastionSrv, "bastion", "127.0.145.4")
	worker := workerSrv.Endpoint("worker2")
	worker.Via = &bastion
	worker.ServerAliveInterval = transport.KeepalivesOff
	client := connect(t, newPool(t, transport.Options{}), worker)

	result := inFlight(t, filepath.Join(t.TempDir(), "run"), func(ctx context.Context, cmd string) error {
		_, err := client.Run(ctx, cmd)
		return err
	})
	proxy.Drop()
	wantLost(t, "Run behind the bastion", result, time.Now(), "worker2",
		"connection lost during command: via bastion: no answer to 2 keepalives in 2s")
}

// TestKeepaliveKeepsALiveConnection: keepalives far more frequent than the
// command's run time never declare a healthy link dead, idle or busy.
func TestKeepaliveKeepsALiveConnection(t *testing.T) {
	t.Parallel()
	srv := sshtest.Start(t, sshtest.Options{Addr: "127.0.145.6"})
	ep := srv.Endpoint("worker3")
	ep.ServerAliveInterval, ep.ServerAliveCountMax = 50*time.Millisecond, 2
	pool := newPool(t, transport.Options{})
	client := connect(t, pool, ep)
	if res := run(t, client, "sleep 1; echo done"); strings.TrimSpace(string(res.Stdout)) != "done" {
		t.Errorf("stdout %q", res.Stdout)
	}
	time.Sleep(500 * time.Millisecond) // idle
	run(t, client, "true")
	if again := connect(t, pool, ep); again != client || pool.Dials("worker3") != 1 {
		t.Errorf("the connection was dropped: %d dials", pool.Dials("worker3"))
	}
}
