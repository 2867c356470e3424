package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/omni-fleet/omni/internal/testkit/testfleet"
)

// secretHookFleet is a fleet whose service app (worker) declares a
// secret env key TOKEN (from OMNI_T_REVIEW_TOKEN) written to envFile.
func secretHookFleet(t *testing.T, bastion, worker, secret string) (*hookFleet, string) {
	t.Helper()
	t.Setenv("OMNI_T_REVIEW_TOKEN", secret)
	envFile := filepath.Join(t.TempDir(), "env", "app.env")
	keys := "env: {TOKEN: {secret: true, from_env: OMNI_T_REVIEW_TOKEN}}\n    env_file: " + envFile
	f := testfleet.Start(t, testfleet.Options{BastionAddr: bastion, WorkerAddr: worker,
		Extra: []testfleet.Service{{Name: "app", Role: "worker", Keys: keys}}})
	b, err := os.ReadFile(f.Inventory)
	if err != nil {
		t.Fatal(err)
	}
	return &hookFleet{hungFleet: &hungFleet{Fleet: f, t: t}, orig: string(b)}, envFile
}

// TestHookOutputCutInsideSecretIsRedacted: docs/config.md (Secrets): in
// a hook's output "every secret value the inventory declares of 4 bytes or
// more ... is replaced by <secret>". A failed hook's error quotes the last
// 400 bytes of its output (hooks.go lastOutput); when that cut falls
// inside a secret, the secret's end is printed and stored in clear: the
// redaction of "an output cut at its start" only looks at the start of
// the whole error text, which begins with "pre_start hook 1 on ...".
func TestHookOutputCutInsideSecretIsRedacted(t *testing.T) {
	const secret = "s3cret-9f8e7d6c5b4a-LEAKEDTAIL" // 30 bytes
	h, envFile := secretHookFleet(t, "127.0.233.5", "127.0.233.6", secret)
	// A pre_start hook that reads the service's environment (a migration,
	// a connectivity check) and fails with a long output: the secret, then
	// 390 more bytes, so that the 400-byte cut falls 20 bytes into it.
	h.setHooks("app", "    pre_start:\n"+hook(`. `+envFile+`; printf "%s" "$TOKEN"; printf "%0390d" 0; exit 3`))
	out, errOut, code := omni(t, h.Fleet, "service", "start", "worker1", "app")
	if code != ExitFailed || !strings.Contains(errOut, "pre_start hook 1 on worker1") {
		t.Fatalf("start with a failing pre_start: exit %d, want 1 naming the hook\n%s%s", code, out, errOut)
	}
	tail := secret[20:]
	if strings.Contains(out+errOut, tail) {
		i := strings.Index(errOut, tail)
		t.Errorf("the end of the secret (%q) is in omni's output: …%s…", tail, errOut[max(0, i-40):min(len(errOut), i+len(tail)+10)])
	}
	db, err := os.ReadFile(filepath.Join(h.Dir, "state.json"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(db), tail) {
		t.Errorf("the end of the secret (%q) is stored in the registry (state.json)", tail)
	}
}

// TestHookOutputSecretWithSpacesIsRedacted: a secret value holding two
// spaces in a row (a passphrase) is printed in clear in a failed hook's
// error: lastOutput folds every run of whitespace to one space before the
// redaction looks for the value, which then no longer matches.
func TestHookOutputSecretWithSpacesIsRedacted(t *testing.T) {
	const secret = "correct  horse  battery  staple"
	h, envFile := secretHookFleet(t, "127.0.233.7", "127.0.233.8", secret)
	h.setHooks("app", "    pre_start:\n"+hook(`. `+envFile+`; echo "cannot log in with $TOKEN"; exit 3`))
	out, errOut, code := omni(t, h.Fleet, "service", "start", "worker1", "app")
	if code != ExitFailed || !strings.Contains(errOut, "pre_start hook 1 on worker1") {
		t.Fatalf("start with a failing pre_start: exit %d, want 1 naming the hook\n%s%s", code, out, errOut)
	}
	folded := strings.Join(strings.Fields(secret), " ")
	if strings.Contains(out+errOut, folded) {
		t.Errorf("the secret passphrase is in omni's output (its spaces folded): %s", strings.TrimSpace(errOut))
	}
	db, _ := os.ReadFile(filepath.Join(h.Dir, "state.json"))
	if strings.Contains(string(db), folded) {
		t.Errorf("the secret passphrase (spaces folded) is stored in the registry")
	}
}

// TestTimedOutHookShowsWhatItPrinted: docs/inventory.md: "A hook's
// output is not shown unless it fails: then the end of it is in the
// error." A hook that hangs past its timeout fails, but its error never
// carries what it printed: the operator learns that `consul maint` (or a
// wait for the load balancer) hung, not what it last said.
func TestTimedOutHookShowsWhatItPrinted(t *testing.T) {
	h := startHookFleet(t, "127.0.233.9", "127.0.233.10")
	mustRun(t, h.Fleet, "service", "start", "worker1", "app")
	for _, on := range []string{"self", "local"} {
		h.setHooks("app", "    pre_stop:\n"+hook(`echo "waiting for lb-7 to confirm the drain ($OMNI_HOST)"; sleep 30`, "on: "+on, "timeout: 1s"))
		out, errOut, code := omni(t, h.Fleet, "service", "stop", "worker1", "app", "--yes")
		if code != ExitFailed || !strings.Contains(errOut, "timed out after 1s") {
			t.Fatalf("on %s: exit %d, want 1 and the timeout\n%s%s", on, code, out, errOut)
		}
		if !strings.Contains(errOut, "waiting for lb-7 to confirm the drain (worker1)") {
			t.Errorf("on %s: the timed-out hook's error does not show what it printed:\n%s", on, strings.TrimSpace(errOut))
		}
	}
}
