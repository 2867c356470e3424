package engine

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
)

// diffOne is DiffConfig of app on h1, its only service, checked for the
// secret values.
func (f *configFixture) diffOne(t *testing.T, secrets ...string) ConfigDiffService {
	t.Helper()
	rep, err := DiffConfig(testContext(t), f.reg, ConfigRequest{Target: "h1", Service: "app"}, f.env())
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Hosts) != 1 || rep.Hosts[0].Err != nil || len(rep.Hosts[0].Services) != 1 {
		t.Fatalf("diff report %+v", rep)
	}
	b, _ := json.Marshal(rep)
	all := string(b) + fmt.Sprintf("%+v", rep)
	for _, s := range rep.Hosts[0].Services[0].Files {
		for _, k := range s.Keys {
			all += k.String()
		}
	}
	noSecret(t, "the diff", all)
	for _, s := range secrets {
		if strings.Contains(all, s) {
			t.Fatalf("the diff holds the secret %q:\n%s", s, all)
		}
	}
	return rep.Hosts[0].Services[0]
}

func diffStates(sd ConfigDiffService) string {
	var out []string
	for _, f := range sd.Files {
		out = append(out, f.State)
	}
	return strings.Join(out, ", ")
}

// TestDiffConfig: `omni config diff` against real files: everything new
// before the first apply; the same after it, with the restart the registry
// says is owed; then a changed file as a unified diff, the env file key
// by key (the secret key said changed, its values in neither side), a key
// only the host has, and a mode drift. It writes nothing.
func TestDiffConfig(t *testing.T) {
	f := newConfigFixture(t, "")
	sd := f.diffOne(t)
	if diffStates(sd) != "new, new, new" || !sd.Differs() || len(sd.Pending) != 0 || !strings.Contains(sd.Files[1].Diff, "+workers 4") {
		t.Fatalf("before the first apply: %s %+v", diffStates(sd), sd)
	}
	if _, err := os.Stat(f.appConf); !os.IsNotExist(err) {
		t.Fatal("diff wrote a file")
	}

	if err := os.WriteFile(f.upFile, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	f.apply(t, ConfigRequest{Target: "h1", Service: "app", LockTimeout: time.Second})
	sd = f.diffOne(t)
	if diffStates(sd) != "same, same, same" || len(sd.Pending) != 1 || !strings.Contains(sd.Pending[0], "registry: "+pendingWritten) {
		t.Fatalf("after the apply: %s, pending %q", diffStates(sd), sd.Pending)
	}
	rep := &ConfigDiffReport{Hosts: []ConfigDiffHost{{Services: []ConfigDiffService{sd}}}}
	if !rep.Differs() {
		t.Fatal("a pending restart does not count as a difference")
	}

	// The inventory changes: a file, a plain key, the secret; the host
	// gains a key and loses a mode.
	const newSecret = "n3w-s3cr3t-value"
	t.Setenv("OMNI_TEST_APP_PW", newSecret)
	f.writeSource(t, "app.conf", "mode good\nworkers 8\n")
	if err := os.WriteFile(f.invPath, []byte(strings.Replace(readFile(t, f.invPath), "PORT: 8080", "PORT: 9090", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	f.load(t)
	env, err := os.OpenFile(f.envFile, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(env, "EXTRA=\"by-hand\"\n")
	env.Close()
	if err := os.Chmod(f.motd, 0o600); err != nil { // no mode declared: no drift
		t.Fatal(err)
	}
	f.writeSource(t, "motd", "hello\n")
	sd = f.diffOne(t, newSecret, "by-hand")
	if diffStates(sd) != "changed, changed, same" {
		t.Fatalf("states %s", diffStates(sd))
	}
	var keys []string
	for _, k := range sd.Files[0].Keys {
		keys = append(keys, k.String())
	}
	if got := strings.Join(keys, "; "); got != "~ PORT: 8080 → 9090; ~ DB_PASSWORD (secret, changed); - EXTRA" {
		t.Fatalf("env keys: %s", got)
	}
	if d := sd.Files[1].Diff; !strings.Contains(d, "-workers 4") || !strings.Contains(d, "+workers 8") || !strings.Contains(d, f.appConf) {
		t.Fatalf("app.conf diff:\n%s", d)
	}

	// Only the mode of app.conf differs.
	f.writeSource(t, "app.conf", "mode good\nworkers 4\n")
	f.load(t)
	if err := os.Chmod(f.appConf, 0o644); err != nil {
		t.Fatal(err)
	}
	sd = f.diffOne(t, newSecret)
	if sd.Files[1].State != "attrs" || strings.Join(sd.Files[1].Drift, ",") != "mode 0644 → 0640" || sd.Files[1].Diff != "" {
		t.Fatalf("mode drift: %+v", sd.Files[1])
	}

	// A host that cannot be reached is that host's error.
	f.hosts.refuse = map[string]error{"h1": fmt.Errorf("connection refused")}
	r, err := DiffConfig(testContext(t), f.reg, ConfigRequest{Target: "h1"}, f.env())
	if err != nil || r.Hosts[0].Err == nil || !strings.Contains(r.Hosts[0].Err.Error(), "h1: connection refused") {
		t.Fatalf("unreachable: %v %+v", err, r)
	}
	if _, err := DiffConfig(testContext(t), f.reg, ConfigRequest{Target: "h2"}, f.env()); Classify(err) != ClassError {
		t.Fatalf("diff of a host without configuration: %v", err)
	}
}
