package engine

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/omni-fleet/omni/inventory"
)

// TestHookEnvValuesAreQuoted: the values a hook's script exports reach it
// intact, whatever quotes, $() and newlines they hold, and run nothing.
// (The inventory refuses such a service_address since it checks it as an
// address; the quoting is the second line of defence, run here by a real
// sh.)
func TestHookEnvValuesAreQuoted(t *testing.T) {
	dir := t.TempDir()
	pwned := filepath.Join(dir, "PWNED")
	hostile := `x'; touch ` + pwned + `1; '"$(touch ` + pwned + `2)"` + "`touch " + pwned + "3`\n touch " + pwned + `4 \`
	host := &inventory.Host{Name: "worker2", ServiceAddress: hostile}
	script := hookScript(host, Instance{Host: "worker2", Service: "plain"}, "post_start", "start", "healthy",
		`printf "[%s]\n" "$OMNI_HOST" "$OMNI_SERVICE" "$OMNI_ADDRESS" "$OMNI_OP" "$OMNI_HOOK" "$OMNI_RESULT"`)
	out, err := exec.Command("sh", "-c", script).Output()
	if err != nil {
		t.Fatal(err)
	}
	if want := "[worker2]\n[plain]\n[" + hostile + "]\n[start]\n[post_start]\n[healthy]\n"; string(out) != want {
		t.Errorf("the hook saw:\n%q\nwant:\n%q", out, want)
	}
	for i := 1; i <= 4; i++ {
		if _, err := os.Stat(pwned + strconv.Itoa(i)); err == nil {
			t.Errorf("PWNED%d exists: a value ran as a command", i)
		}
	}
}
