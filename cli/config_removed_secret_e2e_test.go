package cli

import (
	"strings"
	"testing"
)

// TestSecretKeyTakenOutOfInventoryIsNotPrinted: docs/config.md: secrets are
// never printed; on a host's copy "a key the inventory does not declare is
// masked too (it may be a secret omni no longer declares)", and a diff's
// `- KEY` of "a key omni no longer declares: its value is not shown".
// When the last secret key of a service's env is taken out of the
// inventory (the credential moved to a secret file, or retired), the
// host's environment file still holds it; `config diff` then compares the
// file as plain text and prints the line `-DB_PASSWORD="<the secret>"`,
// and `config show --live` prints it too: the old secret in clear.
func TestSecretKeyTakenOutOfInventoryIsNotPrinted(t *testing.T) {
	f, _ := configFleet(t, "127.0.233.23", "127.0.233.24")
	mustRun(t, f, "config", "apply", "worker1", "cfgsvc", "--restart", "none")
	replaceInInventory(t, f, "      DB_PASSWORD: {secret: true, from_env: OMNI_T_DBPW}\n", "")
	for _, args := range [][]string{
		{"config", "diff", "worker1", "cfgsvc"},
		{"config", "show", "worker1", "cfgsvc", "--live"},
		{"config", "diff", "worker1", "cfgsvc", "-o", "json"},
		{"config", "pull", "worker1", "cfgsvc", "--dry-run"},
	} {
		out, errOut, code := omni(t, f, args...)
		if strings.Contains(out+errOut, cfgDBPassword) {
			i := strings.Index(out+errOut, cfgDBPassword)
			s := out + errOut
			t.Errorf("omni %s (exit %d) prints the secret that was DB_PASSWORD: …%s…", strings.Join(args, " "), code,
				s[max(0, i-30):min(len(s), i+len(cfgDBPassword)+5)])
		}
	}
}
