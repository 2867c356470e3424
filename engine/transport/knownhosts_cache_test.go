package transport_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/omni-fleet/omni/engine/transport"
	"github.com/omni-fleet/omni/internal/testkit/sshtest"
)

// otherHosts returns n known_hosts lines for hosts that are not the test's,
// as in a team's file for a whole fleet.
func otherHosts(t *testing.T, n int) []string {
	lines := make([]string, n)
	for i := range lines {
		lines[i] = knownHostsLine("10.9."+itoa(i/250)+"."+itoa(i%250+1)+":22", randomHostKey(t))
	}
	return lines
}

func TestKnownHostsReadOnceForManyHosts(t *testing.T) {
	t.Parallel()
	bastion := sshtest.Start(t, sshtest.Options{Addr: "127.0.0.44"})
	servers := []*sshtest.Server{
		sshtest.Start(t, sshtest.Options{Addr: "127.0.0.45"}),
		sshtest.Start(t, sshtest.Options{Addr: "127.0.0.46"}),
	}
	knownHosts := filepath.Join(t.TempDir(), "known_hosts")
	writeFile(t, knownHosts, otherHosts(t, 500)...)
	bastion.WriteKnownHosts(knownHosts)
	for _, srv := range servers {
		srv.WriteKnownHosts(knownHosts)
	}
	bastionEP := bastion.Endpoint("bastion")
	bastionEP.KnownHosts = knownHosts
	pool := newPool(t, transport.Options{})

	var wg sync.WaitGroup
	for i, srv := range servers {
		for _, via := range []*transport.Endpoint{nil, &bastionEP} {
			ep := srv.Endpoint("host" + itoa(i))
			if via != nil {
				ep.Name += "-via-bastion"
			}
			ep.KnownHosts, ep.Via = knownHosts, via
			wg.Go(func() { run(t, connect(t, pool, ep), "true") })
		}
	}
	wg.Wait()
	if n := pool.KnownHostsReads(); n != 1 {
		t.Errorf("known_hosts parsed %d times for 5 connections, want 1", n)
	}
}

func TestKnownHostsChangedFileIsReadAgain(t *testing.T) {
	t.Parallel()
	a := sshtest.Start(t, sshtest.Options{Addr: "127.0.0.47"})
	b := sshtest.Start(t, sshtest.Options{Addr: "127.0.0.56"})
	dir := t.TempDir()
	knownHosts := filepath.Join(dir, "known_hosts")
	writeFile(t, knownHosts, a.HostKeyLine())
	pool := newPool(t, transport.Options{})
	endpoint := func(srv *sshtest.Server, name string) transport.Endpoint {
		ep := srv.Endpoint(name)
		ep.KnownHosts = knownHosts
		return ep
	}
	connect(t, pool, endpoint(a, "a"))

	// b is not in the file yet.
	_, err := pool.Client(testContext(t), endpoint(b, "b"))
	var hostKeyErr *transport.HostKeyError
	if !errors.As(err, &hostKeyErr) || hostKeyErr.Changed {
		t.Fatalf("%v, want b's key unknown", err)
	}

	t.Run("appended to", func(t *testing.T) {
		b.WriteKnownHosts(knownHosts)
		connect(t, pool, endpoint(b, "b-after-append"))
		if n := pool.KnownHostsReads(); n != 2 {
			t.Errorf("known_hosts parsed %d times, want 2 (once, then once after the append)", n)
		}
	})

	t.Run("replaced by a file of the same size", func(t *testing.T) {
		// A wrong key for b, then the right one: same length, so only the
		// file's identity (a rename gives it a new inode) tells them apart.
		wrong := knownHostsLine(b.HostPort(), randomHostKey(t))
		right := b.HostKeyLine()
		if len(wrong) != len(right) {
			t.Fatalf("lines of different lengths:\n%s\n%s", wrong, right)
		}
		replace := func(line string) {
			tmp := filepath.Join(dir, "known_hosts.new")
			writeFile(t, tmp, a.HostKeyLine(), line)
			if err := os.Rename(tmp, knownHosts); err != nil {
				t.Fatal(err)
			}
		}
		replace(wrong)
		_, err := pool.Client(testContext(t), endpoint(b, "b-wrong"))
		if !errors.As(err, &hostKeyErr) || !hostKeyErr.Changed {
			t.Fatalf("%v, want b's key refused as changed", err)
		}
		replace(right)
		connect(t, pool, endpoint(b, "b-right"))
	})

	t.Run("removed", func(t *testing.T) {
		if err := os.Remove(knownHosts); err != nil {
			t.Fatal(err)
		}
		_, err := pool.Client(testContext(t), endpoint(a, "a-no-file"))
		if !errors.As(err, &hostKeyErr) || !hostKeyErr.FileMissing {
			t.Fatalf("%v, want a's key unknown, the file missing", err)
		}
	})
}

func TestKnownHostsCachedChangedKeyIsRefused(t *testing.T) {
	t.Parallel()
	a := sshtest.Start(t, sshtest.Options{Addr: "127.0.0.57"})
	b := sshtest.Start(t, sshtest.Options{Addr: "127.0.0.58"})
	knownHosts := filepath.Join(t.TempDir(), "known_hosts")
	writeFile(t, knownHosts, a.HostKeyLine(), knownHostsLine(b.HostPort(), randomHostKey(t)))
	for _, accept := range []bool{false, true} {
		pool := newPool(t, transport.Options{AcceptNewHostKeys: accept})
		for _, srv := range []*sshtest.Server{a, b} {
			ep := srv.Endpoint(srv.Addr)
			ep.KnownHosts = knownHosts
			// Twice each, under two names: the second time from the cache.
			for _, name := range []string{"first", "second"} {
				ep.Name = srv.Addr + "-" + name
				_, err := pool.Client(testContext(t), ep)
				var hostKeyErr *transport.HostKeyError
				switch {
				case srv == a && err != nil:
					t.Errorf("accept %v: %s: %v", accept, ep.Name, err)
				case srv == b && (!errors.As(err, &hostKeyErr) || !hostKeyErr.Changed || hostKeyErr.Line != 2):
					t.Errorf("accept %v: %s: %v, want HOST KEY HAS CHANGED at line 2", accept, ep.Name, err)
				}
			}
		}
		if n := pool.KnownHostsReads(); n != 1 {
			t.Errorf("accept %v: known_hosts parsed %d times, want 1", accept, n)
		}
	}
	if data, _ := os.ReadFile(knownHosts); strings.Count(string(data), "\n") != 2 {
		t.Errorf("known_hosts was modified:\n%s", data)
	}
}

// Concurrent handshakes with one unknown host (under several names, as when
// an inventory host is also a ProxyJump alias) record its key once; the
// handshakes after the append find it in the file.
func TestAcceptedKeyIsRecordedOnceAndSeen(t *testing.T) {
	t.Parallel()
	srv := sshtest.Start(t, sshtest.Options{Addr: "127.0.0.44"})
	knownHosts := filepath.Join(t.TempDir(), "known_hosts")
	writeFile(t, knownHosts, otherHosts(t, 3)...)
	pool := newPool(t, transport.Options{AcceptNewHostKeys: true})
	var wg sync.WaitGroup
	for i := range 6 {
		ep := srv.Endpoint("name" + itoa(i))
		ep.KnownHosts = knownHosts
		wg.Go(func() { run(t, connect(t, pool, ep), "true") })
	}
	wg.Wait()
	data, err := os.ReadFile(knownHosts)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(data), srv.HostKeyLine()+"\n"); n != 1 {
		t.Errorf("the host's key is recorded %d times, want 1:\n%s", n, data)
	}
	if n := strings.Count(string(data), "\n"); n != 4 {
		t.Errorf("known_hosts has %d lines, want 4:\n%s", n, data)
	}

	// A pool that accepts nothing new finds it too.
	ep := srv.Endpoint("later")
	ep.KnownHosts = knownHosts
	connect(t, newPool(t, transport.Options{}), ep)
}
