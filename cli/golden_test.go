package cli

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/omni-fleet/omni/engine"
	"github.com/omni-fleet/omni/engine/health"
	"github.com/omni-fleet/omni/engine/manager"
	"github.com/omni-fleet/omni/inventory"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// terminalInput echoes what is read, as a terminal does, so the buffer holds
// the transcript a person would see.
type terminalInput struct {
	r   io.Reader
	out io.Writer
}

func (t terminalInput) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	t.out.Write(p[:n])
	return n, err
}

func goldenPlan(action, host, service, impact string, critical bool) *engine.Plan {
	plan := &engine.Plan{
		Request: engine.Request{Action: action, Host: host, Service: service},
		Host:    &inventory.Host{Name: host},
		Service: &inventory.Service{Name: service, Impact: impact, Critical: critical},
	}
	if action == "stop" && (critical || impact != "") {
		plan.Confirm = &engine.Confirmation{Impact: impact, Reason: service + " is a critical service"}
	}
	return plan
}

func recordedSteps() []engine.StepResult {
	return []engine.StepResult{{Task: engine.Task{Step: "record"}}}
}

// TestSpecExamples renders the spec's three examples from the outcomes
// Execute would return and compares them byte for byte.
func TestSpecExamples(t *testing.T) {
	passed := &health.Report{Checks: []health.Result{{Check: "process", Passed: true, Attempts: 1}}}
	cases := []struct {
		golden  string
		plan    *engine.Plan
		outcome *engine.Outcome
		input   string
	}{
		{"restart.golden", goldenPlan("restart", "primary-bastion", "api-gateway", "", false), &engine.Outcome{
			State: manager.State{Running: true, Status: "running", Since: time.Now().Add(-5 * time.Second)}, Uptime: 5 * time.Second, Health: passed, Steps: recordedSteps(),
		}, ""},
		{"stop.golden", goldenPlan("stop", "worker1", "container-runtime", "This will affect all running containers on this host.", true), &engine.Outcome{
			State: manager.State{Status: "stopped"}, LastActive: time.Date(2025, 3, 18, 15, 45, 27, 0, time.UTC), Steps: recordedSteps(),
		}, "y\n"},
		{"start.golden", goldenPlan("start", "worker1", "container-runtime", "", true), &engine.Outcome{
			State: manager.State{Running: true, Status: "running", Since: time.Now().Add(-8 * time.Second)}, Uptime: 8*time.Second + 400*time.Millisecond, Health: passed, Steps: recordedSteps(),
		}, ""},
	}
	for _, c := range cases {
		t.Run(c.golden, func(t *testing.T) {
			var out bytes.Buffer
			s := Streams{In: terminalInput{bytes.NewBufferString(c.input), &out}, Out: &out, Err: &out, InTTY: true, OutTTY: true, NoColor: true}
			v := verbs[c.plan.Request.Action]
			fmt.Fprintf(s.Out, "%s %s %s on %s...\n", v.icon, v.doing, c.plan.Service.Name, c.plan.Host.Name)
			if c.plan.Confirm != nil {
				if err := confirm(context.Background(), s, c.plan, *c.plan.Confirm, false); err != nil {
					t.Fatal(err)
				}
			}
			if err := renderOutcome(s, c.plan, c.outcome); err != nil {
				t.Fatal(err)
			}
			compareGolden(t, c.golden, out.Bytes())
		})
	}
}

func compareGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("output differs from %s\n--- got ---\n%s\n--- want ---\n%s", path, got, want)
	}
}

func TestFormatUptime(t *testing.T) {
	for d, want := range map[time.Duration]string{
		5 * time.Second:                             "0m 5s",
		8*time.Second + 900*time.Millisecond:        "0m 8s",
		61 * time.Second:                            "1m 1s",
		2*time.Hour + 3*time.Minute + 4*time.Second: "2h 3m 4s",
		50 * time.Hour:                              "2d 2h 0m",
		-time.Second:                                "0m 0s",
	} {
		if got := formatUptime(d); got != want {
			t.Errorf("formatUptime(%s) = %q, want %q", d, got, want)
		}
	}
}
