package engine

import (
	"path/filepath"
	"testing"

	"github.com/omni-fleet/omni/engine/sshconfig"
	"github.com/omni-fleet/omni/engine/transport"
	"github.com/omni-fleet/omni/inventory"
)

// TestKeepalivesOffIsOneValue: an interval of 0 stated in ssh_config, in
// the inventory's defaults or on the host itself all become the one
// transport.KeepalivesOff in the endpoint, which the transport keeps as
// "none" (TestEndpointKeepalive pins the precedence between them).
func TestKeepalivesOffIsOneValue(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("USER", "alice")
	off, err := sshconfig.Parse("ssh_config", []byte("Host 10.0.3.1\n  ServerAliveInterval 0\n"))
	if err != nil {
		t.Fatal(err)
	}
	if h, err := off.Lookup("10.0.3.1"); err != nil || h.ServerAliveInterval != transport.KeepalivesOff {
		t.Fatalf("ssh_config's 0: %v, %v", h.ServerAliveInterval, err)
	}
	for name, c := range map[string]struct {
		inv string
		cfg *sshconfig.Config
	}{
		"ssh_config":         {"hosts:\n  web: {address: 10.0.3.1, roles: [all]}\n", off},
		"inventory defaults": {"defaults: {server_alive_interval: 0s}\nhosts:\n  web: {address: 10.0.3.1, roles: [all]}\n", nil},
		"the host's own key": {"hosts:\n  web: {address: 10.0.3.1, roles: [all], server_alive_interval: 0}\n", nil},
	} {
		inv, err := inventory.Parse(filepath.Join(home, "inventory.yaml"), []byte("version: 1\n"+c.inv))
		if err != nil {
			t.Fatal(err)
		}
		web, _ := inv.Host("web")
		ep, err := Endpoint(inv, web, c.cfg)
		if err != nil {
			t.Fatal(err)
		}
		if ep.ServerAliveInterval != transport.KeepalivesOff {
			t.Errorf("%s: endpoint interval %v, want transport.KeepalivesOff", name, ep.ServerAliveInterval)
		}
	}
}
