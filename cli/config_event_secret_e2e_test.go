package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/omni-fleet/omni/internal/testkit/testfleet"
)

// TestConfigApplyEventKeepsNoSecret: every secret value the inventory
// declares is replaced by <secret> in what omni shows or records from a
// host, in config apply's events too (they were redacted only with the
// secrets of the files being applied). Here app's plain file has a
// validator that prints db's environment file (another service on the
// host, with a secret key) and fails: the registry keeps no value in
// clear. (Found by a review.)
func TestConfigApplyEventKeepsNoSecret(t *testing.T) {
	const secret = "db-password-SECRET-77c1"
	t.Setenv("OMNI_T_REVIEWJ_DB_PW", secret)
	dir := t.TempDir()
	src := filepath.Join(dir, "app.conf")
	writeFile(t, src, "level = 1\n")
	dbEnv := filepath.Join(dir, "env", "db.env")
	dbKeys := "env: {DB_PASSWORD: {from_env: OMNI_T_REVIEWJ_DB_PW, secret: true}}\n" +
		"    env_file: " + dbEnv
	appKeys := "files: [{path: " + filepath.Join(dir, "etc", "app.conf") + ", source: " + src +
		", on_change: none, validate: 'cat " + dbEnv + "; false %s'}]"
	f := testfleet.Start(t, testfleet.Options{BastionAddr: "127.0.193.21", WorkerAddr: "127.0.193.22",
		Extra: []testfleet.Service{{Name: "db", Role: "worker", Keys: dbKeys}, {Name: "app", Role: "worker", Keys: appKeys}}})
	mustRun(t, f, "config", "apply", "worker1", "db")
	var all strings.Builder
	for _, args := range [][]string{{"config", "apply", "worker1", "app"}, {"config", "history", "worker1", "app"}, {"service", "history", "worker1", "app", "-o", "json"}} {
		out, errOut, code := omni(t, f, args...)
		t.Logf("omni %v: exit %d\n%s%s", args, code, out, errOut)
		all.WriteString(out + errOut)
	}
	if strings.Contains(all.String(), secret) {
		t.Errorf("the secret is in omni's output")
	}
	if !strings.Contains(all.String(), "<secret>") {
		t.Fatalf("precondition: the validator printed db's environment file")
	}
	b, err := os.ReadFile(filepath.Join(f.Dir, "state.json"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), secret) {
		t.Errorf("the secret value is stored in clear in the registry file (config apply's event)")
	}
}
