package transport_test

import (
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/omni-fleet/omni/engine/transport"
	"github.com/omni-fleet/omni/internal/testkit/sshtest"
	"golang.org/x/crypto/ssh/knownhosts"
)

// TestAcceptNewWritesOnlyAHostName: an address that is not a plain host
// name or IP address never reaches known_hosts. The inventory refuses such
// addresses; this is the transport's own guard (an ssh_config HostName
// does not go through the inventory). Go dials an IPv6 address whose zone
// it does not know while ignoring the zone (here an IPv4-mapped address,
// so the connection goes to 127.0.208.x); --accept-new-host-keys wrote the
// address unescaped, and a comma or a newline in the zone made a wildcard
// pattern: the new host's key trusted for every host on port 22, hosts
// known_hosts lists with another key included. (Found by an adversarial
// review.)
//
// "victim" is the host at 127.0.208.1 as known_hosts records it (with
// its real key, random here); the server there now shows another key (a
// man in the middle), which must be refused.
func TestAcceptNewWritesOnlyAHostName(t *testing.T) {
	mitm := sshtest.Start(t, sshtest.Options{Addr: "127.0.208.1"})
	attackerHost := sshtest.Start(t, sshtest.Options{Addr: "127.0.208.2"}) // any port
	for _, tc := range []struct {
		name, address string
		srv           *sshtest.Server
	}{
		{"comma", "::ffff:127.0.208.1%x,*", mitm},
		{"newline, from another port", "::ffff:127.0.208.2%x\n*,y", attackerHost},
	} {
		t.Run(tc.name, func(t *testing.T) {
			knownHosts := filepath.Join(t.TempDir(), "known_hosts")
			writeFile(t, knownHosts, knownHostsLine(mitm.HostPort(), randomHostKey(t)))
			victim := mitm.Endpoint("victim")
			victim.KnownHosts = knownHosts
			if _, err := newPool(t, transport.Options{}).Client(testContext(t), victim); err == nil {
				t.Fatal("precondition: the MITM key is refused for victim")
			}

			// A colleague's PR adds a "new host" whose address carries the
			// injection; the operator runs with --accept-new-host-keys.
			newHost := tc.srv.Endpoint("newhost")
			newHost.Address = tc.address
			newHost.KnownHosts = knownHosts
			before, _ := os.ReadFile(knownHosts)
			if _, err := newPool(t, transport.Options{AcceptNewHostKeys: true}).Client(testContext(t), newHost); err == nil {
				t.Error("a host whose address is not a host name was accepted and recorded")
			}
			if data, _ := os.ReadFile(knownHosts); string(data) != string(before) {
				t.Errorf("known_hosts changed:\n%s", data)
			}

			// The key newhost showed must be trusted for newhost only.
			db, err := knownhosts.New(knownHosts)
			if err != nil {
				t.Fatal(err)
			}
			probe := &net.TCPAddr{IP: net.ParseIP("10.9.9.9"), Port: 22}
			for _, other := range []string{"127.0.208.1:22", "db1.prod.example:22", "10.9.9.9:22"} {
				if db(other, probe, tc.srv.HostKeys()[0]) == nil {
					t.Errorf("newhost's key is now trusted for %s", other)
				}
			}
			if tc.srv == mitm {
				// No opt-in now: victim's changed key must still be refused.
				if _, err := newPool(t, transport.Options{}).Client(testContext(t), victim); err == nil {
					t.Errorf("victim (%s) connected with a key that is not victim's", mitm.HostPort())
				}
			}
		})
	}
}

// TestChangedKeyRefusedUnderOtherCase: OpenSSH matches known_hosts host
// names without regard to case (hostfile.c: match_hostname, dolower), and
// so does omni: the same host spelled in capitals (DNS and /etc/hosts
// ignore case) is the host known_hosts knows, and its changed key is
// refused, with --accept-new-host-keys too (it was taken for a new host's
// and recorded). (Found by an adversarial review.)
func TestChangedKeyRefusedUnderOtherCase(t *testing.T) {
	srv := sshtest.Start(t, sshtest.Options{Addr: "127.0.0.1"})
	knownHosts := filepath.Join(t.TempDir(), "known_hosts")
	// The team's file knows localhost:PORT by another key.
	writeFile(t, knownHosts, knownHostsLine(net.JoinHostPort("localhost", itoa(srv.Port)), randomHostKey(t)))
	ep := srv.Endpoint("web1")
	ep.KnownHosts = knownHosts
	ep.Address = "localhost"
	if _, err := newPool(t, transport.Options{AcceptNewHostKeys: true}).Client(testContext(t), ep); err == nil {
		t.Fatal("precondition: changed key refused for localhost")
	}
	ep.Address = "LOCALHOST"
	if _, err := newPool(t, transport.Options{AcceptNewHostKeys: true}).Client(testContext(t), ep); err == nil {
		data, _ := os.ReadFile(knownHosts)
		t.Errorf("changed key of localhost accepted as new for LOCALHOST with --accept-new-host-keys:\n%s", data)
	}
}
