package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/omni-fleet/omni/internal/testkit/testfleet"
)

// TestSecretNotInHostOutput: a command-manager service whose env has a
// secret key; its start fails and prints the secret (a typical "connecting
// with ..." line), and a pre_start hook (on_failure: warn) prints the env
// file. docs/config.md, Secrets: a secret value appears in none of omni's
// output (text, -o json, history) nor in the registry; the host's output
// shows <secret> in its place. And a warn-only hook's warning does not say
// the service was not started: the start ran. (Found by an adversarial
// review: the secret was shown and stored in clear.)
func TestSecretNotInHostOutput(t *testing.T) {
	const secret = "hunter2-SECRET-9f3a"
	t.Setenv("OMNI_T_REVIEW_TOKEN", secret)
	dir := t.TempDir()
	envFile := filepath.Join(dir, "env", "app.env")
	raw := "    env: {APP_TOKEN: {from_env: OMNI_T_REVIEW_TOKEN, secret: true}}\n" +
		"    env_file: " + envFile + "\n" +
		"    commands:\n" +
		"      start: 'echo \"cannot connect with token $APP_TOKEN\" >&2; exit 1'\n" +
		"      status: 'exit 3'\n" +
		"    pre_start:\n" +
		"      - run: 'cat " + envFile + "; exit 1'\n" +
		"        on_failure: warn\n"
	f := testfleet.Start(t, testfleet.Options{BastionAddr: "127.0.191.5", WorkerAddr: "127.0.191.6",
		Extra: []testfleet.Service{{Name: "app", Role: "worker", Raw: raw}}})
	var all strings.Builder
	for _, args := range [][]string{
		{"service", "start", "worker1", "app"},
		{"service", "start", "worker1", "app", "-o", "json"},
		{"service", "history", "worker1", "app"},
		{"service", "history", "worker1", "app", "-o", "json"},
	} {
		out, errOut, code := omni(t, f, args...)
		t.Logf("omni %v: exit %d\n%s%s", args, code, out, errOut)
		all.WriteString(out + errOut)
	}
	// A pre_start hook with on_failure: warn does not stop the start: its
	// warning must not say the service was not started (the start ran).
	if strings.Contains(all.String(), "(the service was not started) (on_failure: warn)") {
		t.Errorf("a warn-only pre_start hook's warning says \"the service was not started\", yet the start step ran")
	}
	if strings.Contains(all.String(), secret) {
		t.Errorf("the secret value appears in omni's output")
	}
	if !strings.Contains(all.String(), "cannot connect with token <secret>") || !strings.Contains(all.String(), `APP_TOKEN=\"<secret>\"`) {
		t.Errorf("the host's output is not shown with <secret> in place of the value")
	}
	b, err := os.ReadFile(filepath.Join(f.Dir, "state.json"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), secret) {
		t.Errorf("the secret value is stored in clear in the registry file %s", filepath.Join(f.Dir, "state.json"))
	}
}
