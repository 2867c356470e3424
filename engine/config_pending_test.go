package engine

import (
	"strings"
	"testing"
	"time"

	"github.com/omni-fleet/omni/engine/config"
	"github.com/omni-fleet/omni/engine/manager"
)

// TestPendingByMtime: a file changed after the running service started
// makes a restart pending only when its change asks for one (on_change
// restart, the default); on_change none and reload files are meant to
// change under a running service.
func TestPendingByMtime(t *testing.T) {
	started := time.Date(2026, 12, 3, 17, 41, 1, 0, time.UTC)
	status := manager.StatusResult{State: manager.State{Running: true, Since: started}}
	later := config.Live{Exists: true, MTime: started.Add(2 * time.Second)}
	for _, c := range []struct {
		onChange string
		pending  bool
	}{{"", true}, {config.OnChangeRestart, true}, {config.OnChangeNone, false}, {config.OnChangeReload, false}} {
		f := config.File{Path: "/etc/motd", OnChange: c.onChange, Content: []byte("x\n")}
		why := pendingReasons(config.Set{Files: []config.File{f}}, []drift{{File: f, Live: later}}, nil, status)
		if got := len(why) > 0; got != c.pending {
			t.Errorf("on_change %q: pending %v (%s), want %v", c.onChange, got, strings.Join(why, "; "), c.pending)
		}
	}
}
