package config_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/omni-fleet/omni/engine/config"
)

// TestApplyValidatorOutputNeverShowsASecret: the validator of a file that
// holds no secret prints secret values (as one that reads the service's
// environment would): the error shows the rest of its output, each secret
// value replaced by <secret>, also one cut by the output's limit.
func TestApplyValidatorOutputNeverShowsASecret(t *testing.T) {
	r := newRunner(t, "127.0.18.9")
	dir := t.TempDir()
	env := filepath.Join(dir, "app.env")
	key := filepath.Join(dir, "tls.key")
	conf := filepath.Join(dir, "app.conf")
	os.WriteFile(conf, []byte("old\n"), 0o644)
	// What the validator prints, as one that reads the service's
	// environment would; it begins as an output cut by tail -c may: with
	// the end of a secret.
	said := filepath.Join(dir, "said")
	os.WriteFile(said, []byte("nter2-secret; login with hunter2-secret refused; key TLS-material-xyz; greeting hello; line API_KEY=\"k\\$y-\\\"quoted\\\"\"\n"), 0o644)
	files := []config.File{
		{Path: env, Kind: config.KindEnv, Content: []byte("GREETING=\"hello\"\nDB_PASSWORD=\"hunter2-secret\"\nAPI_KEY=\"k\\$y-\\\"quoted\\\"\"\n"), SecretKeys: []string{"DB_PASSWORD", "API_KEY"}},
		{Path: key, Content: []byte("TLS-material-xyz\n"), Secret: true},
		{Path: conf, Content: []byte("new\n"), Validate: "cat " + said + " >&2; exit 7"},
	}
	live := readLive(t, r, files)
	_, err := config.Apply(testCtx(t), r, false, files, live, config.ApplyOptions{})
	if err == nil {
		t.Fatal("a failing validator: no error")
	}
	msg := err.Error()
	for _, want := range []string{conf, "exit 7", "<secret>; login with <secret> refused", "key <secret>", "greeting hello", `line API_KEY="<secret>"`} {
		if !strings.Contains(msg, want) {
			t.Errorf("error lacks %q:\n%s", want, msg)
		}
	}
	for _, leak := range []string{"hunter2", "TLS-material", "quoted"} {
		if strings.Contains(msg, leak) {
			t.Errorf("error shows a secret (%q):\n%s", leak, msg)
		}
	}
	if got, _ := os.ReadFile(conf); string(got) != "old\n" {
		t.Errorf("the file changed: %q", got)
	}
}
