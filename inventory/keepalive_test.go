package inventory

import (
	"errors"
	"testing"
	"time"
)

// TestKeepaliveKeys: server_alive_interval and server_alive_count_max, in
// defaults and on hosts, the host's own winning; the built-in defaults
// when unstated; which are stated (they then beat ssh_config).
func TestKeepaliveKeys(t *testing.T) {
	t.Setenv("USER", "alice")
	t.Setenv("HOME", t.TempDir())
	const text = `version: 1
defaults:
  server_alive_interval: 15s
  server_alive_count_max: 4
hosts:
  stated: {address: a, roles: [r], server_alive_interval: 0s, server_alive_count_max: 2}
  inherits: {address: b, roles: [r]}
roles: {r: []}
`
	inv, err := Parse("inventory.yaml", []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	if d := inv.Defaults; d.ServerAliveInterval != 15*time.Second || d.ServerAliveCountMax != 4 {
		t.Errorf("defaults: interval %s, count max %d; want 15s, 4", d.ServerAliveInterval, d.ServerAliveCountMax)
	}
	for name, want := range map[string]struct {
		interval time.Duration
		countMax int
	}{"stated": {0, 2}, "inherits": {15 * time.Second, 4}} {
		h, _ := inv.Host(name)
		if h.ServerAliveInterval != want.interval || h.ServerAliveCountMax != want.countMax {
			t.Errorf("%s: interval %s, count max %d; want %s, %d", name, h.ServerAliveInterval, h.ServerAliveCountMax, want.interval, want.countMax)
		}
		if e := inv.Explicit(h); !e.ServerAliveInterval || !e.ServerAliveCountMax {
			t.Errorf("%s: %+v, want both keepalive keys explicit", name, e)
		}
	}
	if e := inv.ExplicitDefaults(); !e.ServerAliveInterval || !e.ServerAliveCountMax || e.User {
		t.Errorf("ExplicitDefaults = %+v", e)
	}

	plain, err := Parse("inventory.yaml", []byte("version: 1\nhosts:\n  h: {address: a, roles: [r]}\nroles: {r: []}\n"))
	if err != nil {
		t.Fatal(err)
	}
	h, _ := plain.Host("h")
	if h.ServerAliveInterval != DefaultServerAliveInterval || h.ServerAliveCountMax != DefaultServerAliveCountMax {
		t.Errorf("unstated: interval %s, count max %d; want the built-in %s, %d",
			h.ServerAliveInterval, h.ServerAliveCountMax, DefaultServerAliveInterval, DefaultServerAliveCountMax)
	}
	if e := plain.Explicit(h); e.ServerAliveInterval || e.ServerAliveCountMax {
		t.Errorf("unstated: %+v, want the keepalive keys not explicit", e)
	}
}

// TestKeepaliveKeysInvalid: every bad value is reported with FILE:LINE.
func TestKeepaliveKeysInvalid(t *testing.T) {
	t.Setenv("USER", "alice")
	const text = `version: 1
defaults:
  server_alive_interval: 500ms
  server_alive_count_max: 0
hosts:
  h1:
    address: a
    roles: [r]
    server_alive_interval: -5s
    server_alive_count_max: 101
  h2:
    address: b
    roles: [r]
    server_alive_interval: 15
    server_alive_count_max: three
  h3: {address: c, roles: [r], server_alive_interval: [1s]}
roles: {r: []}
`
	_, err := Parse("inv.yaml", []byte(text))
	var list ErrorList
	if !errors.As(err, &list) {
		t.Fatalf("%v, want an ErrorList", err)
	}
	want := []string{
		`inv.yaml:3: invalid server_alive_interval in defaults: 500ms is too short: use 0 (no keepalives) or at least 1s`,
		`inv.yaml:4: invalid server_alive_count_max in defaults: 0 is out of range 1-100`,
		`inv.yaml:9: invalid server_alive_interval in host "h1": must not be negative`,
		`inv.yaml:10: invalid server_alive_count_max in host "h1": 101 is out of range 1-100`,
		`inv.yaml:14: invalid server_alive_interval in host "h2": "15" is not a duration (use a number and a unit, e.g. "10s" or "500ms")`,
		`inv.yaml:15: invalid server_alive_count_max in host "h2": must be an integer, got "three"`,
		`inv.yaml:16: invalid server_alive_interval in host "h3": must be a duration such as "10s", got a list`,
	}
	if len(list) != len(want) {
		t.Fatalf("got %d errors, want %d:\n%v", len(list), len(want), err)
	}
	for i := range want {
		if list[i].Error() != want[i] {
			t.Errorf("error %d:\n got %s\nwant %s", i, list[i].Error(), want[i])
		}
	}
}
