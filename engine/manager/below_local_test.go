package manager_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/omni-fleet/omni/engine/manager"
	"github.com/omni-fleet/omni/internal/shell"
	"github.com/omni-fleet/omni/internal/testkit/proctest"
	"github.com/omni-fleet/omni/inventory"
)

// TestCommandStopKillsWhatWasBelow: the processes below the main process
// at the stop's start are the service's, wherever they went since: a
// main process that does not lead its group exits at SIGTERM, its child
// (a shell) and grandchild (a sleep) ignore SIGTERM; once the main process
// is gone they get SIGTERM, then SIGKILL at the end of the grace period,
// and the stop says it needed SIGKILL, as for the workers of a group the
// main process leads (found by review).
func TestCommandStopKillsWhatWasBelow(t *testing.T) {
	pidfile := filepath.Join(t.TempDir(), "pid")
	worker := `trap "" TERM; sleep 3042 & wait`
	body := "sh -c " + shell.Quote(worker) + " & echo $$ >" + shell.Quote(pidfile) + "; wait"
	m := commandManager(t, inventory.Commands{
		Start:  "nohup sh -c " + shell.Quote(body) + " >/dev/null 2>&1 </dev/null &",
		Status: "p=$(cat " + shell.Quote(pidfile) + ") && kill -0 \"$p\" && echo \"$p\"",
	})
	t.Cleanup(func() { proctest.Kill("sleep", "3042") })
	if err := m.Start(context.Background(), localRunner{}); err != nil {
		t.Fatal(err)
	}
	var below []int
	for i := 0; i < 200 && len(below) == 0; i++ {
		time.Sleep(10 * time.Millisecond)
		below = proctest.WithArgs("sleep", "3042")
	}
	if len(below) != 1 || !status(t, m).Running {
		t.Fatalf("the service did not start: %v", below)
	}
	err := m.Stop(context.Background(), localRunner{}, time.Second)
	var anyway *manager.StoppedAnyway
	if !errors.As(err, &anyway) || !strings.Contains(err.Error(), "killed with SIGKILL after the 1s grace period") {
		t.Errorf("stop: %v; want stopped, killed with SIGKILL after the grace period", err)
	}
	time.Sleep(100 * time.Millisecond)
	if proctest.Alive(below[0]) {
		t.Errorf("the grandchild %d of the main process still runs after the stop", below[0])
	}
}
