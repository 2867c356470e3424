package cli

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/omni-fleet/omni/internal/testkit/testfleet"
)

// TestConfigCommandManagerOverSSH: a command-manager service over real
// sshd with declared env (one key secret) and a file: its start applies
// them first and its process gets the environment file's keys; an apply
// of a changed key restarts it with the new value; a second apply
// changes nothing; the secret is in no output.
func TestConfigCommandManagerOverSSH(t *testing.T) {
	const secret = "app-token-SECRET-5e1d"
	t.Setenv("OMNI_TEST_APP_TOKEN", secret)
	dir := t.TempDir()
	src := filepath.Join(dir, "src", "app.conf")
	if err := os.MkdirAll(filepath.Dir(src), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(src, []byte("level = 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	envFile := filepath.Join(dir, "env", "app.env")
	confFile := filepath.Join(dir, "etc", "app.conf")
	keys := func(greeting string) string {
		return "env: {GREETING: " + greeting + ", APP_TOKEN: {from_env: OMNI_TEST_APP_TOKEN, secret: true}}\n" +
			"    env_file: " + envFile + "\n" +
			"    files: [{path: " + confFile + ", source: " + src + ", validate: 'grep -q level %s'}]"
	}
	f := testfleet.Start(t, testfleet.Options{BastionAddr: "127.0.1.251", WorkerAddr: "127.0.1.252",
		Extra: []testfleet.Service{{Name: "app", Role: "worker", Keys: keys("hello")}}})
	var seen strings.Builder
	run := func(args ...string) (string, string, int) {
		out, errOut, code := omni(t, f, args...)
		seen.WriteString(out + errOut)
		return out, errOut, code
	}
	environ := func() string {
		b, err := os.ReadFile(filepath.Join(f.RunDir, "worker1.app.pid"))
		if err != nil {
			t.Fatal(err)
		}
		pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
		env, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/environ")
		if err != nil {
			t.Fatal(err)
		}
		return strings.ReplaceAll(string(env), "\x00", "\n")
	}

	out, errOut, code := run("service", "start", "worker1", "app", "--dry-run")
	if code != 0 || !regexp.MustCompile(`config +\S+ +write the declared configuration when the host's copy differs: `+regexp.QuoteMeta(envFile+", "+confFile)).MatchString(out) {
		t.Fatalf("dry run: exit %d, want the config step and its files\n%s%s", code, out, errOut)
	}
	if _, err := os.Stat(envFile); err == nil {
		t.Fatal("the dry run wrote the env file")
	}
	out, errOut, code = run("service", "start", "worker1", "app", "-v")
	if code != 0 || !strings.Contains(errOut, "config") || !strings.Contains(errOut, "wrote "+envFile+", "+confFile) {
		t.Fatalf("start: exit %d, want the config step writing both files\n%s%s", code, out, errOut)
	}
	env := environ()
	if !strings.Contains(env, "GREETING=hello\n") || !strings.Contains(env, "APP_TOKEN="+secret+"\n") {
		t.Errorf("the service's environment lacks the env file's keys:\n%s", strings.ReplaceAll(env, secret, "<secret>"))
	}
	if st, err := os.Stat(envFile); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("env file: %v, %v; want mode 0600 (a secret key)", st, err)
	}

	// A changed key: apply writes it and restarts the service with it.
	b, _ := os.ReadFile(f.Inventory)
	if err := os.WriteFile(f.Inventory, []byte(strings.Replace(string(b), "GREETING: hello", "GREETING: bonjour", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	out, errOut, code = run("config", "diff", "worker1", "app")
	if code != ExitDiffers || !strings.Contains(out, "~ GREETING: hello → bonjour") {
		t.Errorf("diff: exit %d, want 6 and the changed key\n%s%s", code, out, errOut)
	}
	out, errOut, code = run("config", "apply", "worker1", "app")
	if code != 0 || !regexp.MustCompile(`worker1 +app +1 written, 1 unchanged +restarted`).MatchString(out) {
		t.Fatalf("apply: exit %d\n%s%s", code, out, errOut)
	}
	if env := environ(); !strings.Contains(env, "GREETING=bonjour\n") {
		t.Errorf("after apply, the service's environment:\n%s", strings.ReplaceAll(env, secret, "<secret>"))
	}
	pidBefore, _ := os.ReadFile(filepath.Join(f.RunDir, "worker1.app.pid"))
	st1, _ := os.Stat(envFile)
	out, errOut, code = run("config", "apply", "worker1", "app", "-o", "json")
	if code != 0 || strings.Contains(out, `"written"`) || strings.Contains(out, `"restarted"`) {
		t.Fatalf("second apply: exit %d, want nothing written or restarted\n%s%s", code, out, errOut)
	}
	pidAfter, _ := os.ReadFile(filepath.Join(f.RunDir, "worker1.app.pid"))
	st2, _ := os.Stat(envFile)
	if string(pidBefore) != string(pidAfter) || !st1.ModTime().Equal(st2.ModTime()) {
		t.Errorf("the second apply changed something: pid %s → %s, mtime %s → %s", pidBefore, pidAfter, st1.ModTime(), st2.ModTime())
	}
	if out, errOut, code := run("config", "diff", "-o", "json"); code != 0 {
		t.Errorf("diff after apply: exit %d\n%s%s", code, out, errOut)
	}
	// A host that cannot be reached: exit 4, for diff and apply alike.
	f.Worker.Stop()
	for _, cmd := range [][]string{{"config", "diff", "worker1", "app"}, {"config", "apply", "worker1", "app"}} {
		if out, errOut, code := run(cmd...); code != ExitUnreachable || !strings.Contains(errOut, "worker1") {
			t.Errorf("%v with worker1 down: exit %d, want 4 naming the host\n%s%s", cmd, code, out, errOut)
		}
	}
	if strings.Contains(seen.String(), secret) {
		t.Error("the secret is in omni's output")
	}
	if db, err := os.ReadFile(filepath.Join(f.Dir, "state.json")); err != nil || strings.Contains(string(db), secret) {
		t.Errorf("registry: %v, or the secret is in it", err)
	}
}
