package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDiffNamesHandAddedEnvLine: docs/config.md: `config diff` of
// an environment file with secret keys is compared key by key: `+ KEY`
// for a key only declared. When the host's copy has one extra line that
// is not KEY="value" (someone added `LD_PRELOAD=/tmp/x.so` by hand), the
// diff claims that every declared key is missing (`+ GREETING=hello`,
// `+ DB_PASSWORD (secret)`) although the host has them all, equal, and
// never mentions the line that was added: the operator is told the wrong
// change.
func TestDiffNamesHandAddedEnvLine(t *testing.T) {
	f, dir := configFleet(t, "127.0.233.17", "127.0.233.18")
	mustRun(t, f, "config", "apply", "worker1", "cfgsvc", "--restart", "none")
	envFile := filepath.Join(dir, "h", "cfgsvc.env")
	b, err := os.ReadFile(envFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(envFile, append(b, "LD_PRELOAD=/tmp/x.so\n"...), 0o600); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := omni(t, f, "config", "diff", "worker1", "cfgsvc")
	t.Logf("config diff: exit %d\n%s%s", code, out, errOut)
	if code != ExitDiffers {
		t.Fatalf("diff: exit %d, want 6", code)
	}
	if strings.Contains(out, "+ GREETING") || strings.Contains(out, "+ DB_PASSWORD") {
		t.Errorf("the diff says the declared keys are missing on the host, which has them all, unchanged")
	}
	if !strings.Contains(out, "LD_PRELOAD") {
		t.Errorf("the diff does not name the line added on the host (LD_PRELOAD, not a secret of the inventory)")
	}
}
