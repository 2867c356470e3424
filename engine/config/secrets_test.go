package config

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/omni-fleet/omni/inventory"
)

// TestInventorySecrets: every secret an inventory declares (a service's
// env key from omni's environment, a host override's literal, a secret
// file's lines) is redacted from a host's output, also in the forms it
// takes in Go's %q and in JSON; plain values are left alone, and a
// secret that cannot be read now is skipped, not an error.
func TestInventorySecrets(t *testing.T) {
	const token = `tok&"<en>-42`
	t.Setenv("OMNI_SECRETS_TEST_TOKEN", token)
	key := filepath.Join(t.TempDir(), "tls.key")
	if err := os.WriteFile(key, []byte("-----BEGIN KEY-----\nMIIEsecretline\n-----END KEY-----\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	inv, err := inventory.Parse("inv.yaml", []byte(`version: 1
hosts:
  h1:
    address: 10.0.0.1
    roles: [r]
    config:
      app:
        env: {PIN: {secret: true, value: "pin-9876"}}
roles: {r: [app]}
services:
  app:
    env:
      TOKEN: {secret: true, from_env: OMNI_SECRETS_TEST_TOKEN}
      MISSING: {secret: true, from_env: OMNI_SECRETS_TEST_NOT_SET}
      PORT: "8080"
    files:
      - {path: /etc/app/tls.key, source: `+key+`, secret: true}
`))
	if err != nil {
		t.Fatal(err)
	}
	s := InventorySecrets(inv)
	jsonToken, _ := json.Marshal(token)
	in := fmt.Sprintf("token %s; %q; json %s; pin pin-9876; key line MIIEsecretline; port 8080", token, token, jsonToken)
	got := s.Redact(in)
	for _, leak := range []string{token, "pin-9876", "MIIEsecretline", strings.Trim(string(jsonToken), `"`), strings.Trim(fmt.Sprintf("%q", token), `"`)} {
		if strings.Contains(got, leak) {
			t.Errorf("%q is still in %q", leak, got)
		}
	}
	if !strings.Contains(got, "port 8080") || strings.Count(got, "<secret>") != 5 {
		t.Errorf("redacted: %q", got)
	}
	if !(&Secrets{}).None() || s.None() {
		t.Error("None")
	}
}

// TestSecretsLeaveOmnisOwnWordsAlone: a short secret made of digits (a
// PIN) is redacted where it stands as itself, not inside omni's own
// numbers (a PID, a port); in a JSON document only the string values are
// redacted, so that it still parses. (A review saw `"pid": <secret>0`.)
func TestSecretsLeaveOmnisOwnWordsAlone(t *testing.T) {
	s := &Secrets{values: []string{"hunter2-x", "1234"}}
	if got, want := s.RedactText("pid 12340 port 1234 pin=1234, 91234 hunter2-x"), "pid 12340 port <secret> pin=<secret>, 91234 <secret>"; got != want {
		t.Errorf("RedactText: %q, want %q", got, want)
	}
	doc := []byte(`{"pid": 1234, "port": 11234, "error": "pin 1234 refused, \"hunter2-x\"", "n": [1234]}`)
	got := s.RedactJSON(doc)
	if want := `{"pid": 1234, "port": 11234, "error": "pin <secret> refused, \"<secret>\"", "n": [1234]}`; string(got) != want {
		t.Errorf("RedactJSON: %s, want %s", got, want)
	}
}
