package transport_test

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/omni-fleet/omni/engine/transport"
	"github.com/omni-fleet/omni/internal/testkit/sshtest"
)

func TestBastion(t *testing.T) {
	t.Parallel()
	bastion := sshtest.Start(t, sshtest.Options{Addr: "127.0.0.21"})
	targets := []*sshtest.Server{
		sshtest.Start(t, sshtest.Options{Addr: "127.0.0.22"}),
		sshtest.Start(t, sshtest.Options{Addr: "127.0.0.23"}),
	}
	knownHosts := filepath.Join(t.TempDir(), "known_hosts")
	bastion.WriteKnownHosts(knownHosts)
	for _, target := range targets {
		target.WriteKnownHosts(knownHosts)
	}
	bastionEP := bastion.Endpoint("primary-bastion")
	bastionEP.KnownHosts = knownHosts
	endpoint := func(srv *sshtest.Server, name string, via *transport.Endpoint) transport.Endpoint {
		ep := srv.Endpoint(name)
		ep.KnownHosts = knownHosts
		ep.Via = via
		return ep
	}
	worker1 := endpoint(targets[0], "worker1", &bastionEP)
	worker2 := endpoint(targets[1], "worker2", &bastionEP)
	pool := newPool(t, transport.Options{})

	for _, ep := range []transport.Endpoint{worker1, worker2} {
		res := run(t, connect(t, pool, ep), "echo $SSH_CONNECTION")
		if fields := strings.Fields(string(res.Stdout)); len(fields) != 4 || fields[2] != ep.Address {
			t.Errorf("%s: SSH_CONNECTION = %q, want the connection to end at %s", ep.Name, res.Stdout, ep.Address)
		}
	}
	if n := pool.Dials("primary-bastion"); n != 1 {
		t.Errorf("bastion dialled %d times for two hosts, want 1", n)
	}
	if b := connect(t, pool, bastionEP); !b.WritesGrouped() {
		t.Errorf("the bastion's socket writes each packet of its nested connections alone, want them grouped")
	}
	if w := connect(t, pool, worker1); w.WritesGrouped() {
		t.Errorf("worker1, which carries no nested connection, groups its writes")
	}

	t.Run("two hops", func(t *testing.T) {
		// worker2 again, this time through worker1, itself behind the bastion.
		ep := endpoint(targets[1], "worker2-via-worker1", &worker1)
		run(t, connect(t, pool, ep), "true")
		if n := pool.Dials("primary-bastion") + pool.Dials("worker1"); n != 2 {
			t.Errorf("bastion and worker1 dialled %d times in all, want 2", n)
		}
	})

	t.Run("target refuses through the bastion", func(t *testing.T) {
		host, port := closedPort(t, "127.0.0.24")
		ep := endpoint(targets[0], "worker3", &bastionEP)
		ep.Address, ep.Port = host, port
		_, err := pool.Client(testContext(t), ep)
		var unreachable *transport.UnreachableError
		if !errors.As(err, &unreachable) || unreachable.Host != "worker3" ||
			unreachable.Reason != "via primary-bastion: connection refused" {
			t.Errorf("%v, want worker3 unreachable via primary-bastion: connection refused", err)
		}
	})

	t.Run("bastion down", func(t *testing.T) {
		bastion.Stop()
		_, err := newPool(t, transport.Options{}).Client(testContext(t), worker1)
		var unreachable *transport.UnreachableError
		if !errors.As(err, &unreachable) || unreachable.Host != "primary-bastion" ||
			!strings.HasPrefix(err.Error(), "worker1: via primary-bastion: primary-bastion (") {
			t.Errorf("%v, want worker1: via primary-bastion: <the bastion's *UnreachableError>", err)
		}
	})
}
