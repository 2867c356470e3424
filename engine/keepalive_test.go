package engine

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/omni-fleet/omni/engine/sshconfig"
	"github.com/omni-fleet/omni/inventory"
)

// TestEndpointKeepalive: the keepalive settings of each connection, the
// bastions' included, come from the inventory when it states them, else
// from ssh_config's ServerAliveInterval and ServerAliveCountMax, else the
// built-in 10s × 3. An interval of 0 on either side turns them off
// (negative in the endpoint).
func TestEndpointKeepalive(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("USER", "alice")
	const starConfig = "Host *\n  ServerAliveInterval 30\n  ServerAliveCountMax 5\n"
	for _, tc := range []struct {
		name     string
		defaults string
		web      string
		hosts    string
		config   string
		want     string // NAME=INTERVALxCOUNT for web and each hop in front of it
	}{
		{name: "nothing stated: built-in", web: "{address: 10.0.3.1, roles: [all]}",
			want: "web=10sx3"},
		{name: "ssh_config beats the built-in", web: "{address: 10.0.3.1, roles: [all]}", config: starConfig,
			want: "web=30sx5"},
		{name: "ssh_config turns them off", web: "{address: 10.0.3.1, roles: [all]}",
			config: "Host 10.0.3.1\n  ServerAliveInterval 0\n", want: "web=-1nsx3"},
		{name: "the inventory's defaults beat ssh_config, key by key",
			defaults: "defaults: {server_alive_interval: 5s}\n", web: "{address: 10.0.3.1, roles: [all]}", config: starConfig,
			want: "web=5sx5"},
		{name: "the host's own keys beat ssh_config; 0s is off",
			defaults: "defaults: {server_alive_interval: 5s, server_alive_count_max: 2}\n",
			web:      "{address: 10.0.3.1, roles: [all], server_alive_interval: 0s, server_alive_count_max: 7}", config: starConfig,
			want: "web=-1nsx7"},
		{name: "a bastion in the inventory: its own settings",
			web:   "{address: 10.0.3.1, roles: [all], via: bastion}",
			hosts: "  bastion: {address: 10.0.3.9, roles: [all], server_alive_interval: 20s}\n", config: starConfig,
			want: "web=30sx5 via bastion=20sx5"},
		{name: "a ProxyJump alias: ssh_config's for it",
			web:    "{address: 10.0.3.1, roles: [all]}",
			config: "Host 10.0.3.1\n  ProxyJump jump\nHost jump\n  ServerAliveInterval 1m\n" + starConfig,
			want:   "web=30sx5 via jump=1m0sx5"},
		{name: "a ProxyJump alias: the inventory's explicit defaults win",
			defaults: "defaults: {server_alive_count_max: 9}\n",
			web:      "{address: 10.0.3.1, roles: [all]}",
			config:   "Host 10.0.3.1\n  ProxyJump jump\nHost jump\n  ServerAliveInterval 1m\n" + starConfig,
			want:     "web=30sx9 via jump=1m0sx9"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			inv, err := inventory.Parse(filepath.Join(home, "inventory.yaml"),
				[]byte("version: 1\n"+tc.defaults+"hosts:\n  web: "+tc.web+"\n"+tc.hosts))
			if err != nil {
				t.Fatal(err)
			}
			cfg, err := sshconfig.Parse("ssh_config", []byte(tc.config))
			if err != nil {
				t.Fatal(err)
			}
			web, _ := inv.Host("web")
			ep, err := Endpoint(inv, web, cfg)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for e := &ep; e != nil; e = e.Via {
				got = append(got, fmt.Sprintf("%s=%sx%d", e.Name, e.ServerAliveInterval, e.ServerAliveCountMax))
			}
			if s := strings.Join(got, " via "); s != tc.want {
				t.Errorf("got  %s\nwant %s", s, tc.want)
			}
		})
	}
}
