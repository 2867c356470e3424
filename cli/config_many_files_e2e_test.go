package cli

import (
	"bytes"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/omni-fleet/omni/internal/testkit/testfleet"
)

// TestConfigDiffManyLargeFiles: each files: source may be 1 MiB, with no
// bound on their number. config diff reads a host's files with their
// content (base64): in one command, whose kept output is bounded by
// transport.MaxOutput (32 MiB), 26 files of 1000 KiB failed with "output
// passed 32 MiB". The reads are made 16 files at a time. (Found by a
// review.)
func TestConfigDiffManyLargeFiles(t *testing.T) {
	dir := t.TempDir()
	var entries []string
	for i := 0; i < 26; i++ {
		src := filepath.Join(dir, fmt.Sprintf("src%02d.conf", i))
		writeFile(t, src, strings.Repeat(fmt.Sprintf("line %02d of a large but legal config file\n", i), 1000*1024/42))
		conf := filepath.Join(dir, "etc", fmt.Sprintf("app%02d.conf", i))
		entries = append(entries, "{path: "+conf+", source: "+src+", on_change: none}")
	}
	keys := "files: [" + strings.Join(entries, ", ") + "]"
	f := testfleet.Start(t, testfleet.Options{BastionAddr: "127.0.193.7", WorkerAddr: "127.0.193.8",
		Extra: []testfleet.Service{{Name: "app", Role: "worker", Keys: keys}}})
	mustRun(t, f, "config", "apply", "worker1", "app")
	out, errOut, code := omni(t, f, "config", "diff", "worker1", "app")
	t.Logf("diff after apply: exit %d\n%.2000s%.2000s", code, out, errOut)
	if code != 0 || bytes.Contains([]byte(out+errOut), []byte("MiB")) {
		t.Errorf("config diff of 26 legal files right after apply: exit %d, want 0 (nothing differs)", code)
	}
}
