package engine

import (
	"strings"
	"testing"

	"github.com/omni-fleet/omni/engine/config"
	"github.com/omni-fleet/omni/registry"
)

// TestMaskEnv: secret keys read KEY=<secret>; on a host's copy (strict)
// keys the inventory does not declare and lines not in omni's format are
// withheld too; control characters are made printable.
func TestMaskEnv(t *testing.T) {
	content := []byte("# head\nA=\"1\"\nPW=\"hunter2\"\nOLD=\"maybe-secret\"\nbroken line hunter2\nC=\"x\x1by\"\n")
	secret := map[string]bool{"PW": true}
	declared := map[string]bool{"A": true, "PW": true, "C": true}
	got := MaskEnv(content, secret, declared, true)
	want := "# head\nA=\"1\"\nPW=<secret>\nOLD=<secret>\n<a line not in omni's format, withheld: this file holds secrets>\nC=\"x?y\"\n"
	if got != want {
		t.Fatalf("strict:\n%s\nwant:\n%s", got, want)
	}
	if got := MaskEnv(content, secret, declared, false); strings.Contains(got, "hunter2\"") || !strings.Contains(got, "OLD=\"maybe-secret\"") {
		t.Fatalf("declared view:\n%s", got)
	}
}

// TestPullLines: the YAML pull prints for env and dropin, never a secret
// value; the line counts of a file.
func TestPullLines(t *testing.T) {
	f := config.File{Kind: config.KindEnv, SecretKeys: []string{"PW"},
		Content: []byte("A=\"1\"\nPW=\"old\"\nGONE=\"z\"\n")}
	lines, secrets := envPullLines(f, []byte("A=\"2\"\nPW=\"n3w\"\nNEW=\"v\"\n"))
	joined := strings.Join(lines, "\n")
	if !strings.Contains(joined, `A: "2"`) || strings.Contains(joined, "n3w") || strings.Contains(joined, `"v"`) ||
		!strings.Contains(joined, "NEW: on the host") || !strings.Contains(joined, "GONE: not on the host") ||
		len(secrets) != 1 || secrets[0] != "PW" {
		t.Fatalf("env lines %q, secrets %q", lines, secrets)
	}
	want := []byte("[Service]\nEnvironmentFile=/etc/omni/env/app.env\nLimitNOFILE=1024\nEnvironment=A=1\n[Unit]\nAfter=db.service\n")
	have := []byte("[Service]\nEnvironmentFile=/etc/omni/env/app.env\nLimitNOFILE=65536\nEnvironment=A=1\nEnvironment=B=2\n")
	got := dropinPullLines(want, have)
	wantLines := []string{`Service: {LimitNOFILE: "65536"}`, `Service: {Environment: ["A=1", "B=2"]}`, "# Unit.After: not on the host: remove it from the inventory"}
	if strings.Join(got, "\n") != strings.Join(wantLines, "\n") {
		t.Fatalf("dropin lines:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(wantLines, "\n"))
	}
	if a, r := lineChanges([]byte("a\nb\nc\n"), []byte("c\na\nd\ne\n")); a != 2 || r != 1 {
		t.Fatalf("lineChanges: +%d -%d, want +2 -1", a, r)
	}
}

// TestRollbackWants: the default undoes the last apply (skipping
// rollbacks, refusing a created file); --to takes a unique hash prefix of
// at least 8 digits from non-secret entries only.
func TestRollbackWants(t *testing.T) {
	h := func(c string) string { return config.HashBytes([]byte(c)) }
	req := ConfigRollbackRequest{Host: "web1", Service: "app"}
	ev := func(id string, changes ...registry.ConfigChange) registry.Event {
		return registry.Event{ID: id, Host: "web1", Service: "app", Config: changes}
	}
	events := []registry.Event{ // newest first
		ev("3", registry.ConfigChange{Path: "/a", Old: h("v2"), New: h("v1"), Action: registry.ConfigRolledBack}),
		ev("2", registry.ConfigChange{Path: "/a", Old: h("v1"), New: h("v2"), Action: registry.ConfigWritten},
			registry.ConfigChange{Path: "/s", Old: h("s1"), New: h("s2"), Secret: true, Action: registry.ConfigWritten}),
		ev("1", registry.ConfigChange{Path: "/a", New: h("v1"), Action: registry.ConfigWritten}),
	}
	wants, undoes, err := lastApplyWants(events, req)
	if err != nil || undoes != "2" || len(wants) != 2 || wants[0].hash != h("v1") || !wants[1].secret {
		t.Fatalf("default: %+v %q %v", wants, undoes, err)
	}
	if _, _, err := lastApplyWants(events[2:], req); err == nil || !strings.Contains(err.Error(), "does not remove files") {
		t.Fatalf("created file: %v", err)
	}
	req.To = strings.TrimPrefix(h("v2"), "sha256:")[:8]
	if wants, err := hashWants(events, req); err != nil || len(wants) != 1 || wants[0].hash != h("v2") {
		t.Fatalf("--to: %+v %v", wants, err)
	}
	for _, bad := range []string{"abc", strings.TrimPrefix(h("s1"), "sha256:")[:12], "zzzzzzzzzz"} {
		req.To = bad
		if _, err := hashWants(events, req); err == nil {
			t.Fatalf("--to %s accepted", bad)
		}
	}
}
