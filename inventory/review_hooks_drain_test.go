package inventory

import (
	"strings"
	"testing"

	"github.com/omni-fleet/omni/engine/haproxy"
)

// TestReviewDrainServerNameCheckedPerHost (found by review): docs/inventory.md
// says backend and server names "are checked when the inventory loads";
// a server template "srv-{host}-api" is checked with "{host}" standing for
// "h", so on a host with a long (valid, 60-character) name the server
// name is 68 characters, past what omni's HAProxy client accepts (64):
// the inventory loads, and every stop or restart of the service then fails
// at its drain step with `"…" is not an HAProxy name`.
func TestReviewDrainServerNameCheckedPerHost(t *testing.T) {
	t.Setenv("USER", "omni")
	long := strings.Repeat("w", 60)
	inv, err := Load(writeInventory(t, `version: 1
hosts:
  lb1: {address: 10.0.0.1, roles: [lb]}
  `+long+`: {address: 10.0.0.2, roles: [web]}
roles: {lb: [], web: [api]}
services:
  api:
    manager: command
    commands: {start: "true", status: "true"}
    drain:
      haproxy: {on: lb1, backend: be_api, server: "srv-{host}-api"}
`))
	if err != nil {
		return // refused at load, with its line: fine
	}
	svc, _ := inv.Service("api")
	name := svc.Drain.HAProxy.ServerFor(long)
	if err := (haproxy.Client{}).SetState(t.Context(), "be_api", name, haproxy.Drain); err != nil && strings.Contains(err.Error(), "not an HAProxy name") {
		t.Errorf("the inventory loads, but the server name of %s is refused at run time: %v", long, err)
	}
}

// TestDrainServerNameTooLongOnAHost: the refusal of a server template too
// long on one host says where (FILE:LINE of `server`), which host, the
// name and the 64-character limit.
func TestDrainServerNameTooLongOnAHost(t *testing.T) {
	t.Setenv("USER", "omni")
	long := strings.Repeat("w", 60)
	_, err := Load(writeInventory(t, `version: 1
hosts:
  lb1: {address: 10.0.0.1, roles: [lb]}
  `+long+`: {address: 10.0.0.2, roles: [web]}
  `+long+`x: {address: 10.0.0.3, roles: [web]}
  `+long+`y: {address: 10.0.0.4, roles: [lb]}
roles: {lb: [], web: [api]}
services:
  api:
    manager: command
    commands: {start: "true", status: "true"}
    drain:
      haproxy: {on: lb1, backend: be_api,
        server: "srv-{host}-api"}
`))
	if err == nil {
		t.Fatal("loaded")
	}
	want := `:14: invalid server in haproxy drain of service "api": on host "` + long + `" it is "srv-` + long + `-api", 68 characters: an HAProxy name is at most 64 characters (and on 1 more host)`
	if !strings.Contains(err.Error(), want) {
		t.Errorf("got %v\nwant …%s", err, want)
	}
}
