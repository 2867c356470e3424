package inventory

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

// writeInventory writes content to inventory.yaml in a fresh directory and
// returns its path.
func writeInventory(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "inventory.yaml")
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

const validInventory = `version: 1
defaults:
  identity_file: keys/deploy
  sudo: true
  stop_grace: 45s
registry:
  path: ~/omni/registry.db
hosts:
  zeta:
    address: 10.0.0.9
    roles: [db]
  edge:
    address: 203.0.113.10
    port: 2222
    user: admin
    identity_file: /etc/omni/edge_key
    roles: [web, db]
    sudo: false
  alpha:
    address: 10.0.0.1
    roles: [web]
    via: edge
    service_address: 10.0.0.1
roles:
  web: [nginx, app, nginx-exporter]
  all: [node-exporter]
  db: [postgres, app]
services:
  nginx:
    requires: [app]
    health:
      port: 80
      http: {port: 80}
  app:
    critical: true
    impact: Users see errors.
    requires: [postgres@zeta, postgres@db]
    start_timeout: 2m
    sudo: false
  nginx-exporter:
    enabled: false
  postgres:
    unit: postgresql@16-main.service
    health:
      process: true
      timeout: 1s
      retries: 3
      interval: 1s
      start_period: 5s
      http: {port: 8008, path: /health, expect: 204}
  node-exporter:
    manager: command
    commands:
      start: /opt/node-exporter/start
      status: pgrep -x node_exporter
`

func TestLoadValid(t *testing.T) {
	t.Setenv("USER", "alice")
	home := t.TempDir()
	t.Setenv("HOME", home)
	path := writeInventory(t, validInventory)
	dir := filepath.Dir(path)

	inv, err := Load(path)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}

	wantDefaults := Defaults{
		User:           "alice",
		Port:           22,
		IdentityFile:   filepath.Join(dir, "keys/deploy"),
		KnownHosts:     filepath.Join(home, ".ssh/known_hosts"),
		Sudo:           true,
		Manager:        "systemd",
		ConnectTimeout: 10 * time.Second,
		StopGrace:      45 * time.Second,
		StartTimeout:   60 * time.Second,
		CommandTimeout: 30 * time.Second,

		ServerAliveInterval: 10 * time.Second,
		ServerAliveCountMax: 3,
	}
	if inv.Path != path || inv.Version != 1 {
		t.Errorf("Path, Version = %q, %d", inv.Path, inv.Version)
	}
	if inv.Defaults != wantDefaults {
		t.Errorf("Defaults:\n got %+v\nwant %+v", inv.Defaults, wantDefaults)
	}
	if want := filepath.Join(home, "omni/registry.db"); inv.Registry.Path != want {
		t.Errorf("Registry.Path = %q, want %q", inv.Registry.Path, want)
	}

	wantHosts := []*Host{
		{Name: "zeta", Address: "10.0.0.9", Port: 22, User: "alice", IdentityFile: filepath.Join(dir, "keys/deploy"),
			Roles: []string{"db"}, Sudo: true, ServiceAddress: "127.0.0.1", Line: 9, ServerAliveInterval: 10 * time.Second, ServerAliveCountMax: 3},
		{Name: "edge", Address: "203.0.113.10", Port: 2222, User: "admin", IdentityFile: "/etc/omni/edge_key",
			Roles: []string{"web", "db"}, Sudo: false, ServiceAddress: "127.0.0.1", Line: 12, ServerAliveInterval: 10 * time.Second, ServerAliveCountMax: 3},
		{Name: "alpha", Address: "10.0.0.1", Port: 22, User: "alice", IdentityFile: filepath.Join(dir, "keys/deploy"),
			Roles: []string{"web"}, Via: "edge", Sudo: true, ServiceAddress: "10.0.0.1", Line: 19, ServerAliveInterval: 10 * time.Second, ServerAliveCountMax: 3},
	}
	if !reflect.DeepEqual(inv.Hosts, wantHosts) {
		for i := range inv.Hosts {
			t.Logf("host %d: %+v", i, *inv.Hosts[i])
		}
		t.Errorf("Hosts differ (declaration order kept, defaults applied)")
	}

	wantRoles := []*Role{
		{Name: "web", Services: []string{"nginx", "app", "nginx-exporter"}, Line: 25},
		{Name: "all", Services: []string{"node-exporter"}, Line: 26},
		{Name: "db", Services: []string{"postgres", "app"}, Line: 27},
	}
	if !reflect.DeepEqual(inv.Roles, wantRoles) {
		t.Errorf("Roles = %+v", inv.Roles)
	}

	defaultHealth := Health{Timeout: 2 * time.Second, Retries: 10, Interval: 500 * time.Millisecond}
	wantServices := []*Service{
		{Name: "nginx", Enabled: true, Manager: "systemd", Unit: "nginx.service", Requires: []string{"app"},
			Health:    Health{Port: 80, HTTP: &HTTPCheck{Port: 80, Path: "/", Expect: 200}, Timeout: 2 * time.Second, Retries: 10, Interval: 500 * time.Millisecond},
			StopGrace: 45 * time.Second, StartTimeout: 60 * time.Second, Sudo: true, Line: 29,
			requirements: []Requirement{{Service: "app", Reach: ReachSpec{Mode: ReachOff}}}},
		{Name: "app", Enabled: true, Manager: "systemd", Unit: "app.service", Critical: true, Impact: "Users see errors.",
			Requires: []string{"postgres@zeta", "postgres@db"}, Health: defaultHealth,
			StopGrace: 45 * time.Second, StartTimeout: 2 * time.Minute, Sudo: false, Line: 34,
			requirements: []Requirement{ // reach: optional, to postgres's http port (it has no health port)
				{Service: "postgres", Host: "zeta", At: "zeta", Reach: ReachSpec{Mode: ReachOptional, Port: 8008}},
				{Service: "postgres", Role: "db", At: "db", Reach: ReachSpec{Mode: ReachOptional, Port: 8008}}}},
		{Name: "nginx-exporter", Enabled: false, Manager: "systemd", Unit: "nginx-exporter.service", Health: defaultHealth,
			StopGrace: 45 * time.Second, StartTimeout: 60 * time.Second, Sudo: true, Line: 40, requirements: []Requirement{}},
		{Name: "postgres", Enabled: true, Manager: "systemd", Unit: "postgresql@16-main.service",
			Health: Health{Process: true, HTTP: &HTTPCheck{Port: 8008, Path: "/health", Expect: 204},
				Timeout: time.Second, Retries: 3, Interval: time.Second, StartPeriod: 5 * time.Second},
			StopGrace: 45 * time.Second, StartTimeout: 60 * time.Second, Sudo: true, Line: 42, requirements: []Requirement{}},
		{Name: "node-exporter", Enabled: true, Manager: "command",
			Commands: Commands{Start: "/opt/node-exporter/start", Status: "pgrep -x node_exporter"}, Health: defaultHealth,
			StopGrace: 45 * time.Second, StartTimeout: 60 * time.Second, Sudo: true, Line: 51, requirements: []Requirement{}},
	}
	for i, want := range wantServices {
		if i >= len(inv.Services) {
			t.Fatalf("only %d services", len(inv.Services))
		}
		if got := inv.Services[i]; !reflect.DeepEqual(got, want) {
			t.Errorf("service %d:\n got %+v\nwant %+v", i, *got, *want)
		}
	}
	if len(inv.Services) != len(wantServices) {
		t.Errorf("got %d services, want %d", len(inv.Services), len(wantServices))
	}
}

func TestLoadMissingFile(t *testing.T) {
	inv, err := Load(filepath.Join(t.TempDir(), "nope.yaml"))
	if inv != nil || !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Load = %v, %v; want nil and a not-exist error", inv, err)
	}
}

// Anchors and merge keys are plain YAML; the line of a merged key is where
// the anchored mapping writes it.
func TestLoadAnchorsAndMerge(t *testing.T) {
	path := writeInventory(t, `version: 1
defaults: {user: omni}
hosts:
  a: &host {address: 10.0.0.1, roles: [web], port: 2200}
  b:
    <<: *host
    address: 10.0.0.2
roles:
  web: [nginx]
services:
  nginx: {}
`)
	inv, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := inv.Host("b")
	if b.Address != "10.0.0.2" || b.Port != 2200 || !reflect.DeepEqual(b.Roles, []string{"web"}) {
		t.Errorf("b = %+v", *b)
	}
}
