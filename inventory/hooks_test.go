package inventory

import (
	"strings"
	"testing"
	"time"
)

const hooksBase = `version: 1
defaults: {user: ops}
hosts:
  web1: {address: 10.0.0.1, roles: [web]}
  lb1: {address: 10.0.0.2, roles: [web]}
roles: {web: [app]}
services:
  app:
`

// TestHooksDecode: every key of a hook, and the defaults of those left out
// (timeout 30s, on self, on_failure warn for post_stop, abort otherwise).
func TestHooksDecode(t *testing.T) {
	inv, err := Parse("inv.yaml", []byte(hooksBase+`    pre_stop:
      - {run: "drain $OMNI_HOST", on: lb1, timeout: 5s}
      - run: echo local
        on: local
        on_failure: warn
    post_stop: [{run: rm -f /tmp/x}]
    pre_start: [{run: "true"}]
    post_start: [{run: init, on_failure: warn}, {run: again}]
`))
	if err != nil {
		t.Fatal(err)
	}
	s, _ := inv.Service("app")
	h := s.Hooks
	want := []struct {
		got  Hook
		want Hook
	}{
		{h.PreStop[0], Hook{Run: "drain $OMNI_HOST", On: "lb1", Timeout: 5 * time.Second, OnFailure: HookAbort, Line: 10}},
		{h.PreStop[1], Hook{Run: "echo local", On: HookLocal, Timeout: DefaultHookTimeout, OnFailure: HookWarn, Line: 11}},
		{h.PostStop[0], Hook{Run: "rm -f /tmp/x", On: HookSelf, Timeout: DefaultHookTimeout, OnFailure: HookWarn, Line: 14}},
		{h.PreStart[0], Hook{Run: "true", On: HookSelf, Timeout: DefaultHookTimeout, OnFailure: HookAbort, Line: 15}},
		{h.PostStart[0], Hook{Run: "init", On: HookSelf, Timeout: DefaultHookTimeout, OnFailure: HookWarn, Line: 16}},
		{h.PostStart[1], Hook{Run: "again", On: HookSelf, Timeout: DefaultHookTimeout, OnFailure: HookAbort, Line: 16}},
	}
	for i, w := range want {
		if w.got != w.want {
			t.Errorf("hook %d = %+v, want %+v", i, w.got, w.want)
		}
	}
}

// TestHooksErrors: each mistake in a hook is reported at its line.
func TestHooksErrors(t *testing.T) {
	_, err := Parse("inv.yaml", []byte(hooksBase+`    pre_stop: {run: x}
    post_stop:
      - {run: x, on: lb2}
      - {on: self}
      - {run: x, timeout: 0s, on_failure: ignore, when: always}
    pre_start: ["echo"]
`))
	if err == nil {
		t.Fatal("no error")
	}
	for _, w := range []string{
		`inv.yaml:9: invalid pre_stop in service "app": must be a list of hooks`,
		`inv.yaml:11: hook 1 of post_stop of service "app": on: host "lb2" is not defined (want "self", "local" or a host) (did you mean "lb1"?)`,
		`inv.yaml:12: missing required key "run" in hook 2 of post_stop of service "app"`,
		`inv.yaml:13: invalid timeout in hook 3 of post_stop of service "app": must be greater than zero`,
		`inv.yaml:13: invalid on_failure in hook 3 of post_stop of service "app": "ignore" is not a policy (want "abort" or "warn")`,
		`inv.yaml:13: unknown key "when" in hook 3 of post_stop of service "app"`,
		`inv.yaml:14: hook 1 of pre_start of service "app" must be a mapping, got "echo"`,
	} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("missing %q in:\n%v", w, err)
		}
	}
}

// TestHooksAmbiguousHost: a host named local or self would be shadowed.
func TestHooksAmbiguousHost(t *testing.T) {
	_, err := Parse("inv.yaml", []byte(strings.Replace(hooksBase, "lb1:", "local:", 1)+`    pre_stop: [{run: x, on: local}]
`))
	if err == nil || !strings.Contains(err.Error(), `inv.yaml:9: hook 1 of pre_stop of service "app": on: "local" is ambiguous`) {
		t.Fatalf("err = %v", err)
	}
}
