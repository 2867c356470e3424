package cli

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/omni-fleet/omni/engine/config"
	"github.com/omni-fleet/omni/internal/testkit/testfleet"
	"github.com/omni-fleet/omni/registry"
)

// The secrets of the config tests: none of them, nor their files' hashes,
// may appear in any output.
const (
	cfgDBPassword = "s3cr3t-Pa55-db"
	cfgTLSKey     = "TLS-KEY-s3cr3t-material\n"
)

// configFleet is a fleet whose service cfgsvc (on every host, so its
// sources are shared) declares an env with a secret key, a plain file
// and a secret file. Its "host" files live under dir/h, sources under
// dir/src.
func configFleet(t *testing.T, bastion, worker string) (f *testfleet.Fleet, dir string) {
	t.Helper()
	dir = t.TempDir()
	for _, d := range []string{"h", "src"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	writeFile(t, filepath.Join(dir, "src", "app.conf"), "listen 8080\nworkers 4\n")
	writeFile(t, filepath.Join(dir, "src", "tls.key"), cfgTLSKey)
	t.Setenv("OMNI_T_DBPW", cfgDBPassword)
	keys := "env_file: " + dir + "/h/cfgsvc.env\n" +
		"    env:\n" +
		"      GREETING: hello\n" +
		"      DB_PASSWORD: {secret: true, from_env: OMNI_T_DBPW}\n" +
		"    files:\n" +
		"      - {path: " + dir + "/h/app.conf, source: " + dir + "/src/app.conf, mode: \"0640\"}\n" +
		"      - {path: " + dir + "/h/tls.key, source: " + dir + "/src/tls.key, secret: true}"
	f = testfleet.Start(t, testfleet.Options{BastionAddr: bastion, WorkerAddr: worker,
		Extra: []testfleet.Service{{Name: "cfgsvc", Role: "all", Keys: keys}}})
	return f, dir
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// noSecrets fails when any output holds a secret, or the hash of a file
// holding one (full or as history shortens it).
func noSecrets(t *testing.T, dir string, outputs ...string) {
	t.Helper()
	needles := []string{cfgDBPassword, strings.TrimSpace(cfgTLSKey), "s3cr3t"}
	for _, p := range []string{filepath.Join(dir, "h", "tls.key"), filepath.Join(dir, "h", "cfgsvc.env")} {
		if b, err := os.ReadFile(p); err == nil {
			needles = append(needles, strings.TrimPrefix(config.HashBytes(b), "sha256:")[:12])
		}
	}
	needles = append(needles, strings.TrimPrefix(config.HashBytes([]byte(cfgTLSKey)), "sha256:")[:12])
	for _, out := range outputs {
		for _, n := range needles {
			if strings.Contains(out, n) {
				t.Fatalf("output shows a secret or a secret's hash (%q):\n%s", n, out)
			}
		}
	}
}

// TestConfigShowAndPull: show renders what git says with every secret
// masked (text and JSON); --live reads the host; pull writes a host's
// file into its source (a shared one only with --yes), prints the env
// line to put in the YAML, refuses the secret file and leaves a missing
// file's source alone. No output holds a secret.
func TestConfigShowAndPull(t *testing.T) {
	f, dir := configFleet(t, "127.0.1.191", "127.0.1.192")
	var outputs []string
	run := func(want int, args ...string) string {
		t.Helper()
		out, errOut, code := omni(t, f, args...)
		outputs = append(outputs, out, errOut)
		if code != want {
			t.Fatalf("omni %s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, want, out, errOut)
		}
		return out + errOut
	}

	out := run(0, "config", "show", "primary-bastion", "cfgsvc")
	for _, want := range []string{`| GREETING="hello"`, "| DB_PASSWORD=<secret>", "| listen 8080", "mode 0640", "(secret, 24 bytes)", "secret keys DB_PASSWORD"} {
		if !strings.Contains(out, want) {
			t.Fatalf("show lacks %q:\n%s", want, out)
		}
	}
	var doc configShowDoc
	out = run(0, "-o", "json", "config", "show", "primary-bastion", "cfgsvc")
	if err := json.Unmarshal([]byte(out), &doc); err != nil || len(doc.Files) != 3 {
		t.Fatalf("show -o json: %v\n%s", err, out)
	}
	for _, fd := range doc.Files {
		secretFile := strings.HasSuffix(fd.Path, "tls.key")
		if (fd.Hash != "") != strings.HasSuffix(fd.Path, "app.conf") || (fd.Content == nil) != secretFile {
			t.Fatalf("show -o json: %s: hash %q, content %v", fd.Path, fd.Hash, fd.Content)
		}
	}

	out = run(0, "config", "show", "--live", "primary-bastion", "cfgsvc")
	if strings.Count(out, "missing on the host") != 3 {
		t.Fatalf("show --live before any apply:\n%s", out)
	}
	run(0, "config", "apply", "primary-bastion", "cfgsvc")
	// A control character on the host is shown printable.
	writeFile(t, filepath.Join(dir, "h", "app.conf"), "listen 9090\x1b[2J\nworkers 4\n")
	os.Chmod(filepath.Join(dir, "h", "app.conf"), 0o640)
	out = run(0, "config", "show", "--live", "primary-bastion", "cfgsvc")
	for _, want := range []string{"| listen 9090?[2J", "| DB_PASSWORD=<secret>", `| GREETING="hello"`, "mode 0640", "(secret, 24 bytes)", "modified 20"} {
		if !strings.Contains(out, want) {
			t.Fatalf("show --live lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "\x1b") {
		t.Fatalf("show --live printed a control character:\n%q", out)
	}
	out = run(0, "-o", "json", "config", "show", "--live", "primary-bastion", "cfgsvc")
	if err := json.Unmarshal([]byte(out), &doc); err != nil || !doc.Live || *doc.Files[0].Exists != true {
		t.Fatalf("show --live -o json: %v\n%s", err, out)
	}

	// The host's copies drift: the file, a plain env value, the secret
	// key's value, the secret file.
	writeFile(t, filepath.Join(dir, "h", "app.conf"), "listen 9090\nworkers 8\nlog debug\n")
	writeFile(t, filepath.Join(dir, "h", "cfgsvc.env"), "GREETING=\"bonjour\"\nDB_PASSWORD=\"other-s3cr3t\"\n")
	writeFile(t, filepath.Join(dir, "h", "tls.key"), "TLS-KEY-other-s3cr3t\n")
	srcBefore := readFile(t, filepath.Join(dir, "src", "app.conf"))

	// The source is shared with worker1: refused without --yes (exit 5).
	out = run(5, "config", "pull", "primary-bastion", "cfgsvc")
	for _, want := range []string{"shared with worker1", "pass --yes", `GREETING: "bonjour"`, "DB_PASSWORD (secret) differs", "tls.key: secret: not pulled"} {
		if !strings.Contains(out, want) {
			t.Fatalf("pull lacks %q:\n%s", want, out)
		}
	}
	if got := readFile(t, filepath.Join(dir, "src", "app.conf")); got != srcBefore {
		t.Fatalf("pull without --yes changed the shared source:\n%s", got)
	}
	out = run(5, "config", "pull", "--yes", "--dry-run", "primary-bastion", "cfgsvc")
	if !strings.Contains(out, "would write") || readFile(t, filepath.Join(dir, "src", "app.conf")) != srcBefore {
		t.Fatalf("pull --dry-run:\n%s", out)
	}
	// --yes writes it; the secret file is still refused (exit 5) and its
	// source untouched.
	out = run(5, "config", "pull", "--yes", "primary-bastion", "cfgsvc")
	if !strings.Contains(out, "app.conf: written") || !strings.Contains(out, "(+3 -2 lines)") {
		t.Fatalf("pull --yes:\n%s", out)
	}
	if got := readFile(t, filepath.Join(dir, "src", "app.conf")); got != "listen 9090\nworkers 8\nlog debug\n" {
		t.Fatalf("pulled source: %q", got)
	}
	if got := readFile(t, filepath.Join(dir, "src", "tls.key")); got != cfgTLSKey {
		t.Fatal("pull changed the secret file's source")
	}
	if m, _ := filepath.Glob(filepath.Join(dir, "src", ".*omni-pull*")); len(m) != 0 {
		t.Fatalf("pull left temporary files: %v", m)
	}
	// A missing file: said so, its source left alone.
	os.Remove(filepath.Join(dir, "h", "app.conf"))
	out = run(5, "config", "pull", "--yes", "primary-bastion", "cfgsvc")
	if !strings.Contains(out, "missing on primary-bastion; its source is left alone") || readFile(t, filepath.Join(dir, "src", "app.conf")) == "" {
		t.Fatalf("pull of a missing file:\n%s", out)
	}
	// Unreachable: exit 4.
	f.Bastion.Stop()
	run(4, "config", "show", "--live", "primary-bastion", "cfgsvc")
	noSecrets(t, dir, outputs...)
}

// TestConfigHistoryAndRollback: two applies show in history, newest
// first, secret hashes never printed; rollback restores the file byte for
// byte from the registry's blob, restarts the service, records a "rolled
// back" event and clears pending; a rollback that needs a secret the
// inventory no longer renders is refused and changes nothing; --to
// restores one content, --restart none leaves the service pending.
func TestConfigHistoryAndRollback(t *testing.T) {
	f, dir := configFleet(t, "127.0.1.193", "127.0.1.194")
	var outputs []string
	run := func(want int, args ...string) string {
		t.Helper()
		out, errOut, code := omni(t, f, args...)
		outputs = append(outputs, out, errOut)
		if code != want {
			t.Fatalf("omni %s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, want, out, errOut)
		}
		return out + errOut
	}
	v1 := "listen 8080\nworkers 4\n"
	v2 := "listen 8080\nworkers 16\n"
	hostConf := filepath.Join(dir, "h", "app.conf")
	run(0, "config", "apply", "primary-bastion", "cfgsvc")
	writeFile(t, filepath.Join(dir, "src", "app.conf"), v2)
	run(0, "config", "apply", "primary-bastion", "cfgsvc")
	if readFile(t, hostConf) != v2 {
		t.Fatal("the second apply did not write v2")
	}
	run(0, "service", "start", "primary-bastion", "cfgsvc")

	short := func(content string) string {
		return strings.TrimPrefix(config.HashBytes([]byte(content)), "sha256:")[:12]
	}
	out := run(0, "config", "history", "primary-bastion", "cfgsvc")
	i2, i1 := strings.Index(out, short(v1)+" → "+short(v2)), strings.Index(out, "(none) → "+short(v1))
	if i2 < 0 || i1 < 0 || i2 > i1 || !strings.Contains(out, "(none) → (secret)") {
		t.Fatalf("history (newest first, v1 → v2 then created v1):\n%s", out)
	}
	var hist configHistoryDoc
	out = run(0, "-o", "json", "config", "history", "--limit", "1", "primary-bastion", "cfgsvc")
	if err := json.Unmarshal([]byte(out), &hist); err != nil || len(hist.Events) != 1 || hist.Events[0].Result != "ok" {
		t.Fatalf("history -o json --limit 1: %v\n%s", err, out)
	}
	run(0, "-o", "json", "service", "history", "primary-bastion", "cfgsvc")

	// --dry-run and no --yes without a terminal change nothing.
	run(0, "config", "rollback", "--dry-run", "primary-bastion", "cfgsvc")
	run(5, "config", "rollback", "primary-bastion", "cfgsvc")
	if readFile(t, hostConf) != v2 {
		t.Fatal("rollback without --yes changed the file")
	}

	pid := f.PID("primary-bastion", "cfgsvc")
	out = run(0, "config", "rollback", "--yes", "primary-bastion", "cfgsvc")
	if got := readFile(t, hostConf); got != v1 {
		t.Fatalf("rollback: host file %q, want v1 %q\n%s", got, v1, out)
	}
	if after := f.PID("primary-bastion", "cfgsvc"); after == pid || !testfleet.Alive(after) {
		t.Fatalf("rollback did not restart the service: pid %d -> %d\n%s", pid, after, out)
	}
	for _, want := range []string{"rolled back", "(from the registry)", "Service restarted successfully!", "omni config diff primary-bastion cfgsvc"} {
		if !strings.Contains(out, want) {
			t.Fatalf("rollback output lacks %q:\n%s", want, out)
		}
	}
	rec := cfgsvcRecord(t, f, "primary-bastion")
	if rec.Config == nil || rec.Config.Pending || rec.Config.RunningWith != rec.Config.Applied {
		t.Fatalf("after rollback and restart: %+v", rec.Config)
	}
	out = run(0, "config", "history", "--limit", "1", "primary-bastion", "cfgsvc")
	if !strings.Contains(out, "config rollback primary-bastion cfgsvc") || !strings.Contains(out, "rolled back") || !strings.Contains(out, short(v2)+" → "+short(v1)) {
		t.Fatalf("history after rollback:\n%s", out)
	}
	// Rolling back again undoes the same apply: nothing to write.
	out = run(0, "config", "rollback", "--yes", "primary-bastion", "cfgsvc")
	if !strings.Contains(out, "unchanged") || readFile(t, hostConf) != v1 {
		t.Fatalf("second rollback:\n%s", out)
	}

	// An apply that changed a secret: its old content is not in the
	// registry and the inventory renders the new one: refused, nothing
	// changed.
	t.Setenv("OMNI_T_DBPW", "n3w-s3cr3t-pw")
	writeFile(t, filepath.Join(dir, "src", "app.conf"), v2)
	run(0, "config", "apply", "primary-bastion", "cfgsvc")
	envBefore := readFile(t, filepath.Join(dir, "h", "cfgsvc.env"))
	out = run(5, "config", "rollback", "--yes", "primary-bastion", "cfgsvc")
	if !strings.Contains(out, "cfgsvc.env is secret") || !strings.Contains(out, "nothing was changed") {
		t.Fatalf("rollback of a secret:\n%s", out)
	}
	if readFile(t, filepath.Join(dir, "h", "cfgsvc.env")) != envBefore || readFile(t, hostConf) != v2 {
		t.Fatal("a refused rollback changed files")
	}

	// --to one content, --restart none: restored, pending.
	pid = f.PID("primary-bastion", "cfgsvc")
	out = run(0, "config", "rollback", "--yes", "--restart", "none", "--to", short(v1), "primary-bastion", "cfgsvc")
	if readFile(t, hostConf) != v1 || f.PID("primary-bastion", "cfgsvc") != pid || !strings.Contains(out, "pending") {
		t.Fatalf("rollback --to --restart none:\n%s", out)
	}
	if rec := cfgsvcRecord(t, f, "primary-bastion"); rec.Config == nil || !rec.Config.Pending {
		t.Fatalf("after --restart none: %+v", rec.Config)
	}
	run(2, "config", "rollback", "--yes", "--to", "abc", "primary-bastion", "cfgsvc")
	noSecrets(t, dir, outputs...)
	// The registry file holds no secret either.
	db, err := os.ReadFile(filepath.Join(f.Dir, "state.json"))
	if err != nil || bytes.Contains(db, []byte("s3cr3t")) || bytes.Contains(db, []byte("n3w-s3cr3t")) {
		t.Fatalf("registry file: %v, or it holds a secret", err)
	}
}

func cfgsvcRecord(t *testing.T, f *testfleet.Fleet, host string) registry.Record {
	t.Helper()
	for _, r := range registryRecords(t, f) {
		if r.Host == host && r.Service == "cfgsvc" {
			return r
		}
	}
	t.Fatalf("no record of cfgsvc on %s", host)
	return registry.Record{}
}
