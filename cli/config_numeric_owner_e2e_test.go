package cli

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/omni-fleet/omni/internal/testkit/testfleet"
)

// TestConfigNumericOwnerConverges: docs/config.md, files: owner and group
// are a name or a numeric id. A file declared with numeric ids converges:
// after one apply, diff says nothing differs (exit 0) and a second apply
// touches nothing (the host's copy was read by name only, so it differed
// for ever and every apply chowned it again).
func TestConfigNumericOwnerConverges(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "src.conf")
	writeFile(t, src, "level = 1\n")
	conf := filepath.Join(dir, "etc", "app.conf")
	uid, gid := os.Getuid(), os.Getgid()
	keys := "files: [{path: " + conf + ", source: " + src + ", owner: \"" + strconv.Itoa(uid) + "\", group: \"" + strconv.Itoa(gid) + "\", on_change: none}]"
	f := testfleet.Start(t, testfleet.Options{BastionAddr: "127.0.191.7", WorkerAddr: "127.0.191.8",
		Extra: []testfleet.Service{{Name: "app", Role: "worker", Keys: keys}}})
	mustRun(t, f, "config", "apply", "worker1", "app")
	out, errOut, code := omni(t, f, "config", "diff", "worker1", "app")
	t.Logf("diff after apply: exit %d\n%s%s", code, out, errOut)
	if code != 0 {
		t.Errorf("config diff right after apply: exit %d, want 0 (nothing differs)", code)
	}
	out, errOut, code = omni(t, f, "config", "apply", "worker1", "app")
	t.Logf("second apply: exit %d\n%s%s", code, out, errOut)
	if !strings.Contains(out, "1 unchanged") {
		t.Errorf("second apply touched the file again")
	}
}
