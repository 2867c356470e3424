package cli

import (
	"os"
	"testing"
)

// TestMain keeps the tests hermetic: the tester's own ~/.ssh/config must not
// change how the test hosts are reached.
func TestMain(m *testing.M) {
	os.Setenv("OMNI_SSH_CONFIG", "none")
	os.Exit(m.Run())
}
