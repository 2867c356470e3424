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
	"github.com/omni-fleet/omni/inventory"
)

// TestRestartScriptKilledDuringStartAfterStoppedAnyway: a restart
// whose stop part stopped the service, but not as asked (its stop command
// failed, or SIGKILL after the grace period: manager.StoppedAnyway, since
// 95adf78), and whose start part then kills the restart script itself
// (TestCommandRestartScriptKilledDuringStart's case: a start whose
// `pkill -f` matches the script; here `kill -KILL "$$"`).
//
// readRestart (engine/manager/restart.go) fills in the start part that
// never reported its end only `if rep.Stop.Err == nil && !rep.Start.Ran`:
// a StoppedAnyway is a non-nil Stop.Err, so the start part is left
// {Ran: false, Err: nil}. fusedRestart (engine/restart_fused.go) then
// takes `rep.Start.Err == nil` for a start that succeeded: it marks the
// service started and reports the start step "started", for a start that
// was killed with the script. With a clean stop the same start is the
// start part's failure ("the restart script ended during the start").
func TestRestartScriptKilledDuringStartAfterStoppedAnyway(t *testing.T) {
	dir := t.TempDir()
	pidfile := filepath.Join(dir, "pid")
	launchGroupLeader(t, "setsid sleep 300 </dev/null >/dev/null 2>&1 & echo $! > "+shell.Quote(pidfile), pidfile)
	m := commandManager(t, inventory.Commands{
		Start:  `kill -KILL "$$"`,
		Status: "p=$(cat " + shell.Quote(pidfile) + ") && kill -0 \"$p\" && echo \"$p\"",
		// It stops the service, then fails (as `nginx -s quit` can).
		Stop: "kill $(cat " + shell.Quote(pidfile) + "); echo stop failed >&2; exit 1",
	})
	r := m.(manager.Restarter)
	rep, err := r.Restart(context.Background(), localRunner{}, manager.RestartOptions{Grace: 5 * time.Second, StartTimeout: 5 * time.Second, ReadState: true})
	if err != nil {
		t.Fatal(err)
	}
	var anyway *manager.StoppedAnyway
	if !rep.Stop.Ran || !errors.As(rep.Stop.Err, &anyway) {
		t.Fatalf("stop part %+v, want stopped anyway (its stop command failed)", rep.Stop)
	}
	if !rep.Start.Ran || rep.Start.Err == nil || !strings.Contains(rep.Start.Err.Error(), "ended during the start") {
		t.Errorf("start part %+v: the restart script was killed during the start, which never reported its end; want the start's failure (\"the restart script ended during the start\"), not a start that did not run and has no error (taken for started by fusedRestart)", rep.Start)
	}
}
