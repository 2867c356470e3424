package transport_test

import (
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/omni-fleet/omni/engine/transport"
	"github.com/omni-fleet/omni/internal/testkit/sshtest"
)

// TestKnownHostsEntryInCapitals: x/crypto's knownhosts matches names
// case-sensitively; OpenSSH does not, and omni matches as OpenSSH does,
// whichever side has the capitals: an entry written as [LOCALHOST]:port
// (as omni wrote it for an inventory address LOCALHOST) is the host
// LOCALHOST and the host localhost, its right key trusted and any other
// refused as changed, never taken for a new host's. (A first fix, which
// only lower-cased the looked-up name, lost such entries: found by a
// review.)
func TestKnownHostsEntryInCapitals(t *testing.T) {
	srv := sshtest.Start(t, sshtest.Options{Addr: "127.0.0.1"})
	hostPort := net.JoinHostPort("LOCALHOST", itoa(srv.Port))

	t.Run("the right key recorded under capitals is still trusted", func(t *testing.T) {
		knownHosts := filepath.Join(t.TempDir(), "known_hosts")
		writeFile(t, knownHosts, knownHostsLine(hostPort, srv.HostKeys()[0]))
		ep := srv.Endpoint("web1")
		ep.KnownHosts, ep.Address = knownHosts, "LOCALHOST"
		if _, err := newPool(t, transport.Options{}).Client(testContext(t), ep); err != nil {
			t.Errorf("host known (with its right key) as %s refused: %v", hostPort, err)
		}
	})
	t.Run("a changed key under capitals is not taken for a new host's", func(t *testing.T) {
		knownHosts := filepath.Join(t.TempDir(), "known_hosts")
		writeFile(t, knownHosts, knownHostsLine(hostPort, randomHostKey(t)))
		ep := srv.Endpoint("web1")
		ep.KnownHosts, ep.Address = knownHosts, "LOCALHOST"
		if _, err := newPool(t, transport.Options{AcceptNewHostKeys: true}).Client(testContext(t), ep); err == nil {
			data, _ := os.ReadFile(knownHosts)
			t.Errorf("changed key of %s accepted as a new host's with --accept-new-host-keys:\n%s", hostPort, data)
		}
	})
	for _, address := range []string{"localhost", "LocalHost"} {
		t.Run("an entry in capitals, the inventory's address "+address, func(t *testing.T) {
			knownHosts := filepath.Join(t.TempDir(), "known_hosts")
			writeFile(t, knownHosts, knownHostsLine(hostPort, srv.HostKeys()[0]))
			ep := srv.Endpoint("web1")
			ep.KnownHosts, ep.Address = knownHosts, address
			if _, err := newPool(t, transport.Options{}).Client(testContext(t), ep); err != nil {
				t.Errorf("the right key recorded as %s refused for %s: %v", hostPort, address, err)
			}
			writeFile(t, knownHosts, knownHostsLine(hostPort, randomHostKey(t)))
			if _, err := newPool(t, transport.Options{AcceptNewHostKeys: true}).Client(testContext(t), ep); err == nil {
				data, _ := os.ReadFile(knownHosts)
				t.Errorf("a changed key of %s accepted for %s with --accept-new-host-keys:\n%s", hostPort, address, data)
			}
		})
	}
}
