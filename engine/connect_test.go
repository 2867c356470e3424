package engine

import (
	"errors"
	"fmt"
	"os/user"
	"path/filepath"
	"strings"
	"testing"

	"github.com/omni-fleet/omni/engine/sshconfig"
	"github.com/omni-fleet/omni/engine/transport"
	"github.com/omni-fleet/omni/inventory"
)

// describeEndpoint writes an endpoint and its bastions on one line, the
// home directory written ~:
// "NAME=USER@ADDRESS:PORT keys=[...] known_hosts=FILE via NAME=...".
func describeEndpoint(ep transport.Endpoint, home string) string {
	var parts []string
	for e := &ep; e != nil; e = e.Via {
		user, port := e.User, fmt.Sprint(e.Port)
		if user == "" {
			user = "(default)"
		}
		if e.Port == 0 {
			port = "(default)"
		}
		known := e.KnownHosts
		if known == "" {
			known = "(default)"
		}
		parts = append(parts, fmt.Sprintf("%s=%s@%s:%s keys=[%s] known_hosts=%s",
			e.Name, user, e.Address, port, strings.Join(e.IdentityFiles, " "), known))
	}
	return strings.ReplaceAll(strings.Join(parts, " via "), home, "~")
}

func TestEndpointSSHConfig(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("USER", "alice")
	t.Setenv("OMNI_TEST_VAULT", "/vault")
	local, err := user.Current() // %u is the local user from the system, not $USER
	if err != nil {
		t.Fatal(err)
	}

	const fleetA = `
Host fleet-a
    HostName 10.0.3.1
    Port 2201
    User deploy
    IdentityFile ~/.ssh/fleet_%r
    UserKnownHostsFile ~/.ssh/fleet_known_hosts
`
	const bastion = "  bastion: {address: 10.0.3.9, port: 2022, user: ops, roles: [all]}\n"
	const jumpbox = `
Host jumpbox
    HostName 10.0.3.8
    Port 2200
    IdentityFile /keys/jump
`
	for _, tc := range []struct {
		name      string
		defaults  string // the inventory's defaults section
		hosts     string // more inventory hosts, after web
		web       string // the host's mapping
		noConfig  bool
		config    string
		want, err string
	}{
		{
			name:   "alias with HostName, Port, User, IdentityFile, UserKnownHostsFile",
			web:    "{address: fleet-a, roles: [all]}",
			config: fleetA,
			want:   "web=deploy@10.0.3.1:2201 keys=[~/.ssh/fleet_deploy] known_hosts=~/.ssh/fleet_known_hosts",
		},
		{
			name:     "no ssh config: the inventory and built-in defaults",
			web:      "{address: fleet-a, roles: [all]}",
			noConfig: true,
			want:     "web=alice@fleet-a:22 keys=[] known_hosts=~/.ssh/known_hosts",
		},
		{
			name:   "a name no block matches: built-in defaults",
			web:    "{address: 10.0.3.50, roles: [all]}",
			config: fleetA,
			want:   "web=alice@10.0.3.50:22 keys=[] known_hosts=~/.ssh/known_hosts",
		},
		{
			name:   "the host's explicit port, user and key beat the config; tokens use the effective user",
			web:    "{address: fleet-a, port: 2222, user: root, roles: [all]}",
			config: fleetA,
			want:   "web=root@10.0.3.1:2222 keys=[~/.ssh/fleet_root] known_hosts=~/.ssh/fleet_known_hosts",
		},
		{
			name:     "explicit defaults beat the config",
			defaults: "defaults: {port: 2300, user: omni, identity_file: /keys/omni, known_hosts: /fleet/known_hosts}\n",
			web:      "{address: fleet-a, roles: [all]}",
			config:   fleetA,
			want:     "web=omni@10.0.3.1:2300 keys=[/keys/omni] known_hosts=/fleet/known_hosts",
		},
		{
			name:   "built-in defaults lose to Host *",
			web:    "{address: 10.0.3.50, roles: [all]}",
			config: "Host *\n  User star\n  Port 2250\n  IdentityFile /keys/star\n  UserKnownHostsFile /star/known_hosts\n",
			want:   "web=star@10.0.3.50:2250 keys=[/keys/star] known_hosts=/star/known_hosts",
		},
		{
			name:   "first match wins, Host * last",
			web:    "{address: fleet-a, roles: [all]}",
			config: fleetA + "Host fleet-*\n  Port 9999\n  User nobody\nHost *\n  IdentityFile /keys/star\n",
			want:   "web=deploy@10.0.3.1:2201 keys=[~/.ssh/fleet_deploy /keys/star] known_hosts=~/.ssh/fleet_known_hosts",
		},
		{
			name:   "ProxyJump to an inventory host by name: its own settings",
			hosts:  bastion,
			web:    "{address: fleet-a, roles: [all]}",
			config: fleetA + "    ProxyJump bastion\n",
			want: "web=deploy@10.0.3.1:2201 keys=[~/.ssh/fleet_deploy] known_hosts=~/.ssh/fleet_known_hosts" +
				" via bastion=ops@10.0.3.9:2022 keys=[] known_hosts=~/.ssh/known_hosts",
		},
		{
			name:   "ProxyJump to an inventory host by address",
			hosts:  bastion,
			web:    "{address: 10.0.3.1, roles: [all]}",
			config: "Host 10.0.3.1\n  ProxyJump 10.0.3.9\n",
			want:   "web=alice@10.0.3.1:22 keys=[] known_hosts=~/.ssh/known_hosts via bastion=ops@10.0.3.9:2022 keys=[] known_hosts=~/.ssh/known_hosts",
		},
		{
			name:   "ProxyJump to an inventory host whose address is an alias",
			hosts:  "  bastion: {address: jumpbox, roles: [all]}\n",
			web:    "{address: 10.0.3.1, roles: [all]}",
			config: "Host 10.0.3.1\n  ProxyJump jumpbox\n" + jumpbox,
			want:   "web=alice@10.0.3.1:22 keys=[] known_hosts=~/.ssh/known_hosts via bastion=alice@10.0.3.8:2200 keys=[/keys/jump] known_hosts=~/.ssh/known_hosts",
		},
		{
			name:     "ProxyJump to a config-only alias: the config and built-in defaults, not the inventory's",
			defaults: "defaults: {user: omni, known_hosts: /fleet/known_hosts}\n",
			web:      "{address: fleet-a, roles: [all]}",
			config:   fleetA + "    ProxyJump jumpbox\n" + jumpbox,
			want: "web=omni@10.0.3.1:2201 keys=[~/.ssh/fleet_omni] known_hosts=/fleet/known_hosts" +
				" via jumpbox=(default)@10.0.3.8:2200 keys=[/keys/jump] known_hosts=(default)",
		},
		{
			name:   "ProxyJump hop with user and port, beating the hop's config",
			web:    "{address: fleet-a, roles: [all]}",
			config: fleetA + "    ProxyJump admin@jumpbox:2201\n" + jumpbox + "    User jumper\n",
			want: "web=deploy@10.0.3.1:2201 keys=[~/.ssh/fleet_deploy] known_hosts=~/.ssh/fleet_known_hosts" +
				" via admin@jumpbox:2201=admin@10.0.3.8:2201 keys=[/keys/jump] known_hosts=(default)",
		},
		{
			name:   "ProxyJump hop naming an inventory host: its explicit port wins over the hop's, the hop's user over the default",
			hosts:  "  bastion: {address: 10.0.3.9, port: 2022, roles: [all]}\n",
			web:    "{address: 10.0.3.1, roles: [all]}",
			config: "Host 10.0.3.1\n  ProxyJump admin@bastion:2200\n",
			want:   "web=alice@10.0.3.1:22 keys=[] known_hosts=~/.ssh/known_hosts via admin@bastion:2200=admin@10.0.3.9:2022 keys=[] known_hosts=~/.ssh/known_hosts",
		},
		{
			name:   "ProxyJump list: each hop through the previous one",
			hosts:  bastion + "  inner: {address: 10.0.3.7, via: bastion, roles: [all]}\n",
			web:    "{address: fleet-a, roles: [all]}",
			config: fleetA + "    ProxyJump jumpbox,inner\n" + jumpbox,
			want: "web=deploy@10.0.3.1:2201 keys=[~/.ssh/fleet_deploy] known_hosts=~/.ssh/fleet_known_hosts" +
				" via jumpbox,inner=alice@10.0.3.7:22 keys=[] known_hosts=~/.ssh/known_hosts" +
				" via jumpbox=(default)@10.0.3.8:2200 keys=[/keys/jump] known_hosts=(default)",
		},
		{
			name:   "chain A -> B -> C through each hop's own ProxyJump",
			web:    "{address: fleet-a, roles: [all]}",
			config: fleetA + "    ProxyJump hop2\nHost hop2\n  HostName 10.0.3.12\n  ProxyJump hop1\nHost hop1\n  HostName 10.0.3.11\n",
			want: "web=deploy@10.0.3.1:2201 keys=[~/.ssh/fleet_deploy] known_hosts=~/.ssh/fleet_known_hosts" +
				" via hop2=(default)@10.0.3.12:(default) keys=[] known_hosts=(default)" +
				" via hop1=(default)@10.0.3.11:(default) keys=[] known_hosts=(default)",
		},
		{
			name:   "via in the inventory beats ProxyJump",
			hosts:  bastion,
			web:    "{address: fleet-a, via: bastion, roles: [all]}",
			config: fleetA + "    ProxyJump jumpbox\n    ProxyCommand never used\n" + jumpbox,
			want: "web=deploy@10.0.3.1:2201 keys=[~/.ssh/fleet_deploy] known_hosts=~/.ssh/fleet_known_hosts" +
				" via bastion=ops@10.0.3.9:2022 keys=[] known_hosts=~/.ssh/known_hosts",
		},
		{
			name:   "the inventory bastion's own address is looked up too",
			hosts:  "  bastion: {address: jumpbox, roles: [all]}\n",
			web:    "{address: 10.0.3.1, via: bastion, roles: [all]}",
			config: jumpbox,
			want:   "web=alice@10.0.3.1:22 keys=[] known_hosts=~/.ssh/known_hosts via bastion=alice@10.0.3.8:2200 keys=[/keys/jump] known_hosts=~/.ssh/known_hosts",
		},
		{
			name:   "ProxyJump none",
			web:    "{address: fleet-a, roles: [all]}",
			config: "Host jumpbox\n  ProxyJump none\nHost *\n  ProxyJump jumpbox\n",
			want:   "web=alice@fleet-a:22 keys=[] known_hosts=~/.ssh/known_hosts via jumpbox=(default)@jumpbox:(default) keys=[] known_hosts=(default)",
		},
		{
			name:   "tokens and environment variables",
			web:    "{address: fleet-a, roles: [all]}",
			config: "Host fleet-a\n  HostName %h.example\n  Port 2201\n  IdentityFile %d/keys/%r@%h:%p\n  IdentityFile ${OMNI_TEST_VAULT}/%u-%n\n  UserKnownHostsFile ~/kh/%%%n\n",
			want:   "web=alice@fleet-a.example:2201 keys=[~/keys/alice@fleet-a.example:2201 /vault/" + local.Username + "-fleet-a] known_hosts=~/kh/%fleet-a",
		},
		{
			name:   "ProxyJump loop",
			web:    "{address: fleet-a, roles: [all]}",
			config: fleetA + "    ProxyJump jumpbox\n" + jumpbox + "    ProxyJump fleet-a\n",
			err:    "web: ssh_config:14: ProxyJump loop: web -> jumpbox -> web",
		},
		{
			name:   "ProxyJump loop of a jump host onto itself",
			web:    "{address: fleet-a, roles: [all]}",
			config: "Host *\n  ProxyJump jumpbox\n",
			err:    "web: ssh_config:2: ProxyJump loop: web -> jumpbox -> jumpbox",
		},
		{
			name:   "ProxyJump loop through an inventory bastion",
			hosts:  bastion,
			web:    "{address: fleet-a, roles: [all]}",
			config: "Host fleet-a\n  ProxyJump bastion\nHost 10.0.3.9\n  ProxyJump fleet-a\n",
			err:    "web: ssh_config:4: ProxyJump loop: web -> bastion -> web",
		},
		{
			name:   "ProxyCommand",
			web:    "{address: fleet-a, roles: [all]}",
			config: "Host fleet-a\n  ProxyCommand nc %h %p\n  ProxyJump jumpbox\n",
			err:    "web: ssh_config:2: ProxyCommand applies to fleet-a: omni does not run proxy commands; use ProxyJump, or via in the inventory",
		},
		{
			name:   "unknown token",
			web:    "{address: fleet-a, roles: [all]}",
			config: "Host fleet-a\n  IdentityFile /keys/%C\n",
			err:    `web: ssh_config: IdentityFile "/keys/%C" for fleet-a: token %C is not supported (supported: %% %h %p %r %u %d %n %k %i %l %L)`,
		},
		{
			name:   "bad port",
			web:    "{address: fleet-a, roles: [all]}",
			config: "Host fleet-a\n  Port ssh\n",
			err:    `web: ssh_config:2: Port "ssh" is not a port number (1-65535)`,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			inv, err := inventory.Parse(filepath.Join(home, "inventory.yaml"),
				[]byte("version: 1\n"+tc.defaults+"hosts:\n  web: "+tc.web+"\n"+tc.hosts))
			if err != nil {
				t.Fatal(err)
			}
			var cfg *sshconfig.Config
			if !tc.noConfig {
				if cfg, err = sshconfig.Parse("ssh_config", []byte(tc.config)); err != nil {
					t.Fatal(err)
				}
			}
			web, _ := inv.Host("web")
			ep, err := Endpoint(inv, web, cfg)
			if tc.err != "" {
				var cfgErr *sshconfig.Error
				if err == nil || err.Error() != tc.err || !errors.As(err, &cfgErr) {
					t.Fatalf("Endpoint: %v\nwant *sshconfig.Error: %s", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := describeEndpoint(ep, home); got != tc.want {
				t.Errorf("Endpoint:\n got %s\nwant %s", got, tc.want)
			}
			if ep.ConnectTimeout != inv.Defaults.ConnectTimeout {
				t.Errorf("ConnectTimeout = %s, want the inventory's %s", ep.ConnectTimeout, inv.Defaults.ConnectTimeout)
			}
		})
	}
}

// TestEndpointDocExample checks the example of docs/ssh-config.md.
func TestEndpointDocExample(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("USER", "alice")
	const inventoryText = `version: 1
defaults:
  user: omni                      # explicit: beats User in ssh_config
hosts:
  primary-bastion:   {address: bastion.prod, roles: [bastion]}
  secondary-bastion: {address: 198.51.100.7, roles: [bastion]}
  web1: {address: web1.prod, roles: [web]}
  web2: {address: web2.prod, port: 2222, roles: [web]}
  db1:  {address: db1.prod, via: secondary-bastion, roles: [db]}
roles: {bastion: [], web: [], db: []}
`
	const configText = `Host bastion.prod
    HostName 203.0.113.10
    ProxyJump none

Host *.prod
    User admin
    Port 2201
    IdentityFile ~/.ssh/prod_%r
    ProxyJump primary-bastion
`
	inv, err := inventory.Parse("inventory.yaml", []byte(inventoryText))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := sshconfig.Parse("~/.ssh/config", []byte(configText))
	if err != nil {
		t.Fatal(err)
	}
	const bastion = "primary-bastion=omni@203.0.113.10:2201 keys=[~/.ssh/prod_omni] known_hosts=~/.ssh/known_hosts"
	for name, want := range map[string]string{
		"primary-bastion":   bastion,
		"secondary-bastion": "secondary-bastion=omni@198.51.100.7:22 keys=[] known_hosts=~/.ssh/known_hosts",
		"web1":              "web1=omni@web1.prod:2201 keys=[~/.ssh/prod_omni] known_hosts=~/.ssh/known_hosts via " + bastion,
		"web2":              "web2=omni@web2.prod:2222 keys=[~/.ssh/prod_omni] known_hosts=~/.ssh/known_hosts via " + bastion,
		"db1": "db1=omni@db1.prod:2201 keys=[~/.ssh/prod_omni] known_hosts=~/.ssh/known_hosts" +
			" via secondary-bastion=omni@198.51.100.7:22 keys=[] known_hosts=~/.ssh/known_hosts",
	} {
		h, _ := inv.Host(name)
		ep, err := Endpoint(inv, h, cfg)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if got := describeEndpoint(ep, home); got != want {
			t.Errorf("%s:\n got %s\nwant %s", name, got, want)
		}
	}

	// Without ProxyJump none, as the doc says.
	cfg, err = sshconfig.Parse("~/.ssh/config", []byte(strings.Replace(configText, "    ProxyJump none\n", "", 1)))
	if err != nil {
		t.Fatal(err)
	}
	web1, _ := inv.Host("web1")
	_, err = Endpoint(inv, web1, cfg)
	if want := "web1: ~/.ssh/config:8: ProxyJump loop: web1 -> primary-bastion -> primary-bastion"; err == nil || err.Error() != want {
		t.Errorf("without ProxyJump none: %v, want %s", err, want)
	}
}
