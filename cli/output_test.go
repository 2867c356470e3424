package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/omni-fleet/omni/engine"
	"github.com/omni-fleet/omni/engine/manager"
)

// TestColourOnlyOnATerminal: colour on a terminal, none with NO_COLOR, and
// neither colour nor emoji when the output is piped.
func TestColourOnlyOnATerminal(t *testing.T) {
	plan := goldenPlan("restart", "primary-bastion", "api-gateway", "", false)
	out := &engine.Outcome{State: manager.State{Running: true, Status: "running"}, Uptime: 5 * time.Second, Steps: recordedSteps()}
	render := func(tty, noColor bool) string {
		var buf bytes.Buffer
		s := Streams{Out: &buf, Err: &buf, OutTTY: tty, InTTY: tty, NoColor: noColor}
		renderOutcome(s, plan, out)
		return buf.String()
	}
	if got := render(true, false); !strings.Contains(got, "\x1b[32m✓\x1b[0m") || !strings.Contains(got, "\x1b[32mRunning\x1b[0m") {
		t.Errorf("terminal output has no colour:\n%q", got)
	}
	for name, got := range map[string]string{"NO_COLOR": render(true, true), "piped": render(false, false)} {
		if strings.Contains(got, "\x1b[") {
			t.Errorf("%s output has escape codes:\n%q", name, got)
		}
	}
	if s := styleFor(Streams{OutTTY: false}); s.icon("🔄") != "" {
		t.Error("emoji when piped")
	}
}

func TestInventoryCheckJSON(t *testing.T) {
	s, out, _ := TestStreams("", false)
	if code := Run(context.Background(), []string{"-i", "../examples/inventory.yaml", "-o", "json", "inventory", "check"}, s); code != 0 {
		t.Fatalf("exit %d", code)
	}
	var doc inventoryDoc
	if err := json.Unmarshal(out.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if !doc.Valid || len(doc.Hosts) != 6 || doc.Hosts[2].Name != "worker1" || doc.Hosts[2].Via != "primary-bastion" || len(doc.Services) != 9 {
		t.Fatalf("doc: %+v", doc)
	}

	bad := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(bad, []byte("version: 1\nhosts:\n  w1: {adress: x, roles: [r]}\nroles: {r: []}\n"), 0o644)
	s, out, errOut := TestStreams("", false)
	if code := Run(context.Background(), []string{"-i", bad, "-o", "json", "inventory", "check"}, s); code != ExitUsage {
		t.Fatalf("exit %d", code)
	}
	var e errorDoc
	if err := json.Unmarshal(out.Bytes(), &e); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if e.Result != "error" || e.ExitCode != 2 || len(e.Errors) != 2 || e.Errors[0].Line != 3 || e.Errors[0].File != bad {
		t.Fatalf("error doc: %+v", e)
	}
	if !strings.HasPrefix(errOut.String(), bad+":3: ") {
		t.Fatalf("stderr should start with FILE:LINE: %q", errOut)
	}
}

func TestDryRunJSON(t *testing.T) {
	s, out, _ := TestStreams("", false)
	code := Run(context.Background(), []string{"-i", "../examples/inventory.yaml", "-o", "json", "service", "stop", "worker1", "container-runtime", "--dry-run"}, s)
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	var doc planDoc
	if err := json.Unmarshal(out.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if !doc.DryRun || doc.Confirm == nil || doc.Confirm.Impact != "This will affect all running containers on this host." ||
		len(doc.Tasks) != 5 || doc.Tasks[1].Step != "stop" || doc.Tasks[1].GraceMS != 60000 ||
		doc.Tasks[3].Step != "post-stop" || doc.Tasks[3].TimeoutMS != 15000 || !strings.Contains(doc.Tasks[3].Detail, "1 hook: on self: rm -f --") {
		t.Fatalf("doc: %+v", doc)
	}
}
