package transport

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

func TestEndpointDefaults(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	if err := os.MkdirAll(filepath.Join(home, ".ssh"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(home, ".ssh", "id_rsa"), nil, 0o600); err != nil {
		t.Fatal(err)
	}

	got, err := Endpoint{Address: "10.20.0.11", User: "omni", Via: &Endpoint{Name: "bastion", Address: "b", Port: 2222}}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	want := Endpoint{
		Name: "10.20.0.11:22", Address: "10.20.0.11", Port: 22, User: "omni",
		IdentityFiles:  []string{filepath.Join(home, ".ssh", "id_rsa")}, // only the default that exists
		KnownHosts:     filepath.Join(home, ".ssh", "known_hosts"),
		ConnectTimeout: DefaultConnectTimeout,
		// Keepalives on by default, unlike OpenSSH.
		ServerAliveInterval: DefaultServerAliveInterval, ServerAliveCountMax: DefaultServerAliveCountMax,
		Via: &Endpoint{Name: "bastion", Address: "b", Port: 2222, User: got.Via.User,
			IdentityFiles:       []string{filepath.Join(home, ".ssh", "id_rsa")},
			KnownHosts:          filepath.Join(home, ".ssh", "known_hosts"),
			ConnectTimeout:      DefaultConnectTimeout,
			ServerAliveInterval: DefaultServerAliveInterval, ServerAliveCountMax: DefaultServerAliveCountMax},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("withDefaults:\n got %+v\nwant %+v", got, want)
	}
	if got.Via.User == "" {
		t.Error("bastion user not defaulted to the current user")
	}

	got, err = Endpoint{Name: "w", Address: "w", User: "u", ConnectTimeout: time.Second,
		IdentityFiles: []string{"~/keys/omni", "/abs/key"}, KnownHosts: "~/fleet/known_hosts"}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{filepath.Join(home, "keys/omni"), "/abs/key"}; !reflect.DeepEqual(got.IdentityFiles, want) {
		t.Errorf("IdentityFiles = %v, want %v", got.IdentityFiles, want)
	}
	if want := filepath.Join(home, "fleet/known_hosts"); got.KnownHosts != want {
		t.Errorf("KnownHosts = %s, want %s", got.KnownHosts, want)
	}

	// A negative interval turns keepalives off: it is kept.
	if got, _ := (Endpoint{Name: "w", Address: "w", User: "u", ServerAliveInterval: -1}).withDefaults(); got.ServerAliveInterval != -1 {
		t.Errorf("ServerAliveInterval -1 became %s", got.ServerAliveInterval)
	}

	if _, err := (Endpoint{Name: "w"}).withDefaults(); err == nil || err.Error() != `transport: endpoint "w" has no address` {
		t.Errorf("no address: %v", err)
	}
}
