package transport_test

import (
	"fmt"
	"testing"

	"github.com/omni-fleet/omni/engine/transport"
	"github.com/omni-fleet/omni/internal/testkit/sshtest"
)

// TestOutputBoundSameInShellAndOwnSession: MaxOutput+1 bytes of stdout
// fail in the long-lived shell as in a session of its own. The shell's
// reader checked the bound only while no mark was in its buffer: the
// bytes that arrived with the mark were never counted. (Found by a
// review.)
func TestOutputBoundSameInShellAndOwnSession(t *testing.T) {
	srv := sshtest.Start(t, sshtest.Options{Addr: "127.0.193.41"})
	ctx := testContext(t)
	for _, extra := range []int{1, 100, 16 << 10} {
		cmd := fmt.Sprintf("head -c %d /dev/zero", transport.MaxOutput+extra)
		shell := connect(t, newPool(t, transport.Options{}), srv.Endpoint("worker1"))
		own := connect(t, newPool(t, transport.Options{}), srv.Endpoint("worker1"))
		rs, errShell := shell.Run(ctx, cmd)
		ro, errOwn := own.RunOnce(ctx, cmd)
		t.Logf("MaxOutput+%d: shell %d bytes, %v; own session %d bytes, %v", extra, len(rs.Stdout), errShell, len(ro.Stdout), errOwn)
		if (errShell == nil) != (errOwn == nil) {
			t.Errorf("MaxOutput+%d bytes: the shell and a session of its own disagree", extra)
		}
	}
}
