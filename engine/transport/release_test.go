package transport_test

import (
	"path/filepath"
	"testing"

	"github.com/omni-fleet/omni/engine/transport"
	"github.com/omni-fleet/omni/internal/testkit/sshtest"
)

func TestRelease(t *testing.T) {
	t.Parallel()
	bastion := sshtest.Start(t, sshtest.Options{Addr: "127.0.0.45"})
	target := sshtest.Start(t, sshtest.Options{Addr: "127.0.0.46"})
	knownHosts := filepath.Join(t.TempDir(), "known_hosts")
	bastion.WriteKnownHosts(knownHosts)
	target.WriteKnownHosts(knownHosts)
	bastionEP := bastion.Endpoint("bastion")
	bastionEP.KnownHosts = knownHosts
	direct := target.Endpoint("direct")
	direct.KnownHosts = knownHosts
	behind := target.Endpoint("behind")
	behind.KnownHosts, behind.Via = knownHosts, &bastionEP

	t.Run("closes once every caller has released", func(t *testing.T) {
		pool := newPool(t, transport.Options{})
		first, second := connect(t, pool, direct), connect(t, pool, direct)
		if first != second {
			t.Fatal("two connections to one host")
		}
		pool.Release(first)
		run(t, second, "true") // still held by the second caller
		pool.Release(second)
		again := connect(t, pool, direct)
		if again == first || pool.Dials("direct") != 2 {
			t.Errorf("after release: same connection %v, %d dials; want a new one, 2 dials", again == first, pool.Dials("direct"))
		}
		run(t, again, "true")
		pool.Release(again)
		pool.Release(again) // once too often: nothing happens
	})

	t.Run("keeps a bastion until Close", func(t *testing.T) {
		pool := newPool(t, transport.Options{})
		b := connect(t, pool, bastionEP)
		w := connect(t, pool, behind)
		run(t, w, "true")
		pool.Release(w)
		pool.Release(b)
		run(t, connect(t, pool, behind), "true")
		if n, m := pool.Dials("bastion"), pool.Dials("behind"); n != 1 || m != 2 {
			t.Errorf("bastion dialled %d times, host behind it %d, want 1 and 2", n, m)
		}
		if connect(t, pool, bastionEP) != b {
			t.Error("the bastion's connection was replaced")
		}
	})

	t.Run("after Close", func(t *testing.T) {
		pool := transport.NewPool(transport.Options{})
		c := connect(t, pool, direct)
		if err := pool.Close(); err != nil {
			t.Fatal(err)
		}
		pool.Release(c)
		pool.Release(nil)
	})
}
