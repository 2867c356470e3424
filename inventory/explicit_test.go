package inventory

import (
	"os"
	"path/filepath"
	"testing"
)

func TestExplicit(t *testing.T) {
	t.Setenv("USER", "alice")
	t.Setenv("HOME", t.TempDir())
	for _, tc := range []struct {
		name     string
		defaults string
		host     string
		want     Explicit
	}{
		{"nothing stated", "", "{address: a, roles: [all]}", Explicit{}},
		{"host port", "", "{address: a, roles: [all], port: 22}", Explicit{Port: true}},
		{"host user and key", "", "{address: a, roles: [all], user: bob, identity_file: k}", Explicit{User: true, IdentityFile: true}},
		{"defaults", "defaults: {port: 2222, user: omni, identity_file: k, known_hosts: kh}\n", "{address: a, roles: [all]}",
			Explicit{Port: true, User: true, IdentityFile: true, KnownHosts: true}},
		{"defaults known_hosts only", "defaults: {known_hosts: kh, sudo: true}\n", "{address: a, roles: [all]}", Explicit{KnownHosts: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			inv, err := Parse("inventory.yaml", []byte("version: 1\n"+tc.defaults+"hosts:\n  h: "+tc.host+"\n"))
			if err != nil {
				t.Fatal(err)
			}
			h, _ := inv.Host("h")
			if got := inv.Explicit(h); got != tc.want {
				t.Errorf("Explicit = %+v, want %+v", got, tc.want)
			}
		})
	}

	t.Run("built by hand", func(t *testing.T) {
		h := &Host{Name: "h", Address: "a", Port: 22, User: "u"}
		inv := &Inventory{Hosts: []*Host{h}}
		if got, want := inv.Explicit(h), (Explicit{Port: true, User: true}); got != want {
			t.Errorf("Explicit = %+v, want %+v", got, want)
		}
	})
}

func TestSSHConfigDefault(t *testing.T) {
	dir := t.TempDir()
	for value, want := range map[string]string{
		"none":          "none",
		"ssh/config":    filepath.Join(dir, "ssh", "config"),
		"/etc/omni/cfg": "/etc/omni/cfg",
	} {
		path := filepath.Join(dir, "inventory.yaml")
		data := "version: 1\ndefaults: {ssh_config: " + value + "}\nhosts:\n  h1: {address: 10.0.0.1, roles: [r]}\nroles: {r: []}\nservices: {}\n"
		if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
		inv, err := Load(path)
		if err != nil {
			t.Fatal(err)
		}
		if inv.Defaults.SSHConfig != want {
			t.Errorf("ssh_config: %s gave %q, want %q", value, inv.Defaults.SSHConfig, want)
		}
	}
}

func TestRegistryEtcd(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "inventory.yaml")
	good := "version: 1\nregistry:\n  etcd: {endpoints: [\"http://127.0.0.1:2379\"], prefix: /fleet/}\nhosts: {}\nroles: {}\nservices: {}\n"
	os.WriteFile(path, []byte(good), 0o644)
	inv, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if e := inv.Registry.Etcd; e == nil || len(e.Endpoints) != 1 || e.Prefix != "/fleet" {
		t.Fatalf("etcd config %+v", inv.Registry.Etcd)
	}
	bad := "version: 1\nregistry:\n  path: r.db\n  etcd: {prefix: fleet}\nhosts: {}\nroles: {}\nservices: {}\n"
	os.WriteFile(path, []byte(bad), 0o644)
	_, err = Load(path)
	want := path + ":4: registry.etcd needs endpoints, e.g. [\"https://10.20.0.5:2379\"]\n" +
		path + ":4: registry.etcd.prefix \"fleet\" must start with /\n" +
		path + ":4: registry: give path (embedded store) or etcd, not both"
	if err == nil || err.Error() != want {
		t.Fatalf("error:\n%v\nwant:\n%s", err, want)
	}
}
