package cli

import (
	"os"
	"testing"

	"github.com/omni-fleet/omni/engine/transport"
)

// TestMain keeps the tests hermetic: the tester's own ~/.ssh/config must not
// change how the test hosts are reached.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == transport.MasterArg {
		// A persistent connection's master, re-executed as omni's main does.
		os.Exit(transport.MasterMain(os.Args[2:]))
	}
	os.Setenv("OMNI_SSH_CONFIG", "none")
	os.Exit(m.Run())
}
