package inventory

import (
	"errors"
	"strings"
	"testing"
	"time"
)

const drainHosts = `version: 1
hosts:
  lb1: {address: 10.0.0.1, roles: [lb]}
  web1: {address: 10.0.0.2, roles: [web]}
roles: {lb: [], web: [api]}
services:
  api:
    manager: command
    commands: {start: "true", status: "true"}
`

// TestLoadDrain: the haproxy drain's keys, their defaults and "{host}".
func TestLoadDrain(t *testing.T) {
	t.Setenv("USER", "omni")
	inv, err := Load(writeInventory(t, drainHosts+`    drain:
      haproxy: {on: lb1, backend: be_api}
`))
	if err != nil {
		t.Fatal(err)
	}
	svc, _ := inv.Service("api")
	d := svc.Drain.HAProxy
	if d.On != "lb1" || d.Backend != "be_api" || d.Socket != DefaultHAProxySocket || d.Server != "{host}" ||
		d.WaitSessions != 0 || d.Timeout != DefaultHAProxyDrainTimeout || d.ServerFor("web1") != "web1" {
		t.Errorf("defaults: %+v", d)
	}
	inv, err = Load(writeInventory(t, drainHosts+`    drain:
      haproxy: {on: lb1, socket: /run/hap.sock, backend: be_api, server: "api-{host}:1", wait_sessions: 2, timeout: 5s}
`))
	if err != nil {
		t.Fatal(err)
	}
	svc, _ = inv.Service("api")
	d = svc.Drain.HAProxy
	if d.Socket != "/run/hap.sock" || d.ServerFor("web1") != "api-web1:1" || d.WaitSessions != 2 || d.Timeout != 5*time.Second {
		t.Errorf("set: %+v", d)
	}
}

// TestLoadDrainErrors: names the runtime API's line protocol would read
// as more than a name are refused, with their line.
func TestLoadDrainErrors(t *testing.T) {
	t.Setenv("USER", "omni")
	path := writeInventory(t, drainHosts+`    drain:
      haproxy:
        on: lb2
        socket: "run/x\nset server"
        backend: "be; disable server be/web1"
        server: "web 1"
        timeout: 0s
        colour: red
`)
	_, err := Load(path)
	var list ErrorList
	if !errors.As(err, &list) {
		t.Fatalf("err = %v", err)
	}
	want := []string{
		`17: unknown key "colour" in haproxy drain of service "api"`,
		`13: invalid socket in haproxy drain of service "api": "run/x\nset server" must be an absolute path on one line`,
		`14: invalid backend in haproxy drain of service "api": "be; disable server be/web1" is not an HAProxy name: ` + haproxyNameRule,
		`15: invalid server in haproxy drain of service "api": "web 1" is not an HAProxy name: ` + haproxyNameRule + ` ("{host}" stands for the host's name)`,
		`16: invalid timeout in haproxy drain of service "api"`,
		`12: host "lb2" is not defined (haproxy drain of service "api": on) (did you mean "lb1"?)`,
	}
	got := err.Error()
	for _, w := range want {
		if !strings.Contains(got, path+":"+w) {
			t.Errorf("missing %q in:\n%s", w, got)
		}
	}
}
