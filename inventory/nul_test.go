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

// TestRawNULHasLine: a NUL byte anywhere in an
// inventory is an error with FILE:LINE. A raw NUL byte (not the escape
// "\0": a file damaged, or written by a tool) on line 10.
func TestRawNULHasLine(t *testing.T) {
	for name, src := range map[string]string{
		"in a value":   "version: 1\nhosts:\n  host1: {address: 127.0.0.1, roles: [worker]}\nroles:\n  worker: [nul]\nservices:\n  nul:\n    manager: command\n    commands:\n      start: \"echo a\x00b\"\n      status: \"true\"\n",
		"in a comment": "version: 1\nhosts:\n  host1: {address: 127.0.0.1, roles: [worker]}\nroles:\n  worker: [nul]\nservices:\n  nul:\n    manager: command\n    commands:\n      start: \"echo ab\" # a\x00b\n      status: \"true\"\n",
	} {
		_, err := inventory.Parse("inv.yaml", []byte(src))
		if err == nil {
			t.Errorf("%s: a raw NUL byte was accepted", name)
			continue
		}
		t.Logf("%s: %v", name, err)
		if !strings.Contains(err.Error(), "inv.yaml:10:") {
			t.Errorf("%s: error %q does not name the file and line 10", name, err)
		}
	}
}
