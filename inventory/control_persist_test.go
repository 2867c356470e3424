package inventory

import (
	"strings"
	"testing"
	"time"
)

// TestControlPersist: defaults.control_persist is a duration, 0 (off) when
// unstated; a bad value is reported with FILE:LINE.
func TestControlPersist(t *testing.T) {
	t.Setenv("USER", "alice")
	inv, err := Parse("inventory.yaml", []byte("version: 1\ndefaults:\n  control_persist: 10m\nhosts:\n  h: {address: a, roles: [r]}\nroles: {r: []}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if inv.Defaults.ControlPersist != 10*time.Minute {
		t.Errorf("control_persist %s, want 10m", inv.Defaults.ControlPersist)
	}
	plain, err := Parse("inventory.yaml", []byte("version: 1\nhosts:\n  h: {address: a, roles: [r]}\nroles: {r: []}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if plain.Defaults.ControlPersist != 0 {
		t.Errorf("unstated control_persist %s, want 0 (off)", plain.Defaults.ControlPersist)
	}
	_, err = Parse("inv.yaml", []byte("version: 1\ndefaults:\n  control_persist: -1m\nhosts:\n  h: {address: a, roles: [r]}\nroles: {r: []}\n"))
	if want := `inv.yaml:3: invalid control_persist in defaults: must not be negative`; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("err = %v, want %q", err, want)
	}
}
