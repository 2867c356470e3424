package manager_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/omni-fleet/omni/engine/manager"
	"github.com/omni-fleet/omni/internal/shell"
)

// TestKillTreeBothBranches: omni_kill_tree kills a process and everything
// below it (a subshell, its children, a grandchild), finding them with ps
// where there is ps, and by reading /proc where there is not.
func TestKillTreeBothBranches(t *testing.T) {
	for name, edit := range map[string]func(string) string{
		"ps":   func(s string) string { return s },
		"proc": func(s string) string { return strings.Replace(s, "command -v ps ", "command -v omni-no-such-ps ", 1) },
		// a ps that lists nothing (it refuses the options): /proc then
		"ps-lists-nothing": func(s string) string {
			return strings.Replace(s, "$(ps -A -o pid= -o ppid= 2>/dev/null)", "$(ps --omni-no-such-option 2>/dev/null)", 1)
		},
	} {
		t.Run(name, func(t *testing.T) {
			if edited := edit(manager.KillTreeScript); name != "ps" && edited == manager.KillTreeScript {
				t.Fatal("the test no longer finds killTree's ps command to change")
			}
			pids := filepath.Join(t.TempDir(), "pids")
			q := shell.Quote(pids)
			script := edit(manager.KillTreeScript) + `
(
	sleep 300 & echo $! >>` + q + `
	( sleep 300 & echo $! >>` + q + `; wait ) & echo $! >>` + q + `
	wait
) &
omni_top=$!
echo "$omni_top" >>` + q + `
i=0; until [ "$(wc -l <` + q + `)" -ge 4 ] || [ $i -ge 200 ]; do sleep 0.01; i=$((i+1)); done
omni_kill_tree "$omni_top"
wait "$omni_top"
exit 0
`
			began := time.Now()
			if out, err := exec.Command("sh", "-c", script).CombinedOutput(); err != nil {
				t.Fatalf("script: %v\n%s", err, out)
			}
			data, err := os.ReadFile(pids)
			if err != nil {
				t.Fatal(err)
			}
			fields := strings.Fields(string(data))
			if len(fields) != 4 {
				t.Fatalf("want the 4 PIDs of the tree, got %q", data)
			}
			for _, f := range fields {
				pid, err := strconv.Atoi(f)
				if err != nil {
					t.Fatal(err)
				}
				deadline := time.Now().Add(2 * time.Second)
				for !processGone(pid) && time.Now().Before(deadline) {
					time.Sleep(10 * time.Millisecond)
				}
				if !processGone(pid) {
					t.Errorf("process %d of the tree outlived omni_kill_tree", pid)
				}
			}
			t.Logf("%s: %s", name, time.Since(began))
		})
	}
}
