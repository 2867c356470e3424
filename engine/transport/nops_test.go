package transport_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/omni-fleet/omni/engine/transport"
	"github.com/omni-fleet/omni/internal/testkit/proctest"
	"github.com/omni-fleet/omni/internal/testkit/sshtest"
)

// TestInterruptedRunKillsCommandOnHostWithoutPS: a host without
// `ps` (procps is not in minimal images: debian:slim, ubuntu, distroless
// with a shell). When a command in the connection's shell passes its
// deadline, the kill-tree of 167b132 falls back to /proc, but its pairs()
// runs inside `set -f; set -- $(pairs); set +f`: globbing is off, so
// `for f in /proc/[0-9]*/stat` loops once over the literal pattern, reads
// nothing, and the walk finds no process below the shell. Only the shell
// is killed; the command and everything it started run on (re-parented
// to init). Before, the shell's process group was killed and took them.
func TestInterruptedRunKillsCommandOnHostWithoutPS(t *testing.T) {
	bin := t.TempDir()
	os.Chmod(bin, 0o755)
	for name, target := range map[string]string{"sh": "/usr/bin/dash", "sleep": "/usr/bin/sleep"} {
		if err := os.Symlink(target, filepath.Join(bin, name)); err != nil {
			t.Fatal(err)
		}
	}
	srv := sshtest.Start(t, sshtest.Options{Addr: "127.0.0.203", ExtraConfig: "SetEnv PATH=" + bin})
	client := connect(t, newPool(t, transport.Options{}), srv.Endpoint("worker1"))
	if res := run(t, client, "command -v ps || echo none"); string(res.Stdout) != "none\n" {
		t.Fatalf("the host has ps: %q", res.Stdout)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if _, err := client.Run(ctx, "sh -c 'sleep 32.25 & sleep 32.5'"); err == nil {
		t.Fatal("a 32s command with a 1s deadline succeeded")
	}
	defer proctest.Kill("sleep", "32.25")
	defer proctest.Kill("sleep", "32.5")
	waitGone(t, 5*time.Second, "sleep", "32.25")
	waitGone(t, 5*time.Second, "sleep", "32.5")
}
