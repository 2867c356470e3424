package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/omni-fleet/omni/internal/testkit/testfleet"
)

// TestShortSecretKeepsJSON: omni's stdout is redacted as a whole, omni's
// own output included: a secret of 4 bytes or more (a numeric PIN) that
// happens to be part of a number omni prints (a PID here; also ports,
// durations, timestamps) turned `-o json` into a document that does not
// parse ("pid": <secret>5). A digits-only secret is redacted only where no
// digit touches it, and in a JSON document only in its strings. (Found by
// a review.)
func TestShortSecretKeepsJSON(t *testing.T) {
	t.Setenv("OMNI_T_REVIEWJ_PIN", "not-yet-known")
	f := testfleet.Start(t, testfleet.Options{BastionAddr: "127.0.193.31", WorkerAddr: "127.0.193.32",
		Extra: []testfleet.Service{{Name: "app", Role: "worker", Keys: "env: {PIN: {from_env: OMNI_T_REVIEWJ_PIN, secret: true}}"}}})
	mustRun(t, f, "service", "start", "worker1", "app")
	b, err := os.ReadFile(filepath.Join(f.RunDir, "worker1.app.pid"))
	if err != nil {
		t.Fatal(err)
	}
	pid := strings.TrimSpace(string(b))
	if len(pid) < 4 {
		t.Skipf("pid %s too short", pid)
	}
	t.Setenv("OMNI_T_REVIEWJ_PIN", pid[:4]) // the operator's 4-digit PIN
	out, errOut, code := omni(t, f, "service", "status", "worker1", "app", "-o", "json")
	t.Logf("pid %s, PIN %s: exit %d\n%s%s", pid, pid[:4], code, out, errOut)
	var doc any
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Errorf("-o json does not parse: %v", err)
	}
}
