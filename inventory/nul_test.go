package inventory_test

import (
	"strings"
	"testing"

	"github.com/omni-fleet/omni/inventory"
)

// TestCommandWithNULRejected: no remote command can carry a NUL byte
// (YAML "\0"): sshd drops the connection on an exec request holding one,
// and omni would report the host unreachable (exit 4), with every other
// service's commands on that connection. It fails at load, with
// FILE:LINE (exit 2), as other unusable values do.
func TestCommandWithNULRejected(t *testing.T) {
	src := `version: 1
hosts:
  host1: {address: 127.0.0.1, roles: [worker]}
roles:
  worker: [nul]
services:
  nul:
    manager: command
    commands:
      start: "echo a\0b"
      status: "true"
`
	_, err := inventory.Parse("inv.yaml", []byte(src))
	if err == nil {
		t.Fatal("an inventory whose start command holds a NUL byte was accepted")
	}
	if !strings.Contains(err.Error(), "inv.yaml:10: ") || !strings.Contains(err.Error(), "NUL byte") {
		t.Errorf("error %v does not name the file and line", err)
	}
}
