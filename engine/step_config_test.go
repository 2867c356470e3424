package engine

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/omni-fleet/omni/playbooks"
	"github.com/omni-fleet/omni/registry"
)

// startApp runs `omni service start h1 app` through Execute on the
// fixture's local host.
func (f *configFixture) startApp(t *testing.T) *Outcome {
	t.Helper()
	set, err := playbooks.Builtin(Vocabulary())
	if err != nil {
		t.Fatal(err)
	}
	pb, err := set.Get("start")
	if err != nil {
		t.Fatal(err)
	}
	plan, err := NewPlan(f.inv, pb, Request{Action: "start", Host: "h1", Service: "app"})
	if err != nil {
		t.Fatal(err)
	}
	var stdout bytes.Buffer
	out := Execute(testContext(t), plan, Env{Inventory: f.inv, Connector: f.hosts, Registry: f.reg, Stdout: &stdout, Stderr: io.Discard,
		Run: "run-1", Confirm: func(context.Context, Confirmation) error { return nil }})
	for _, r := range out.Steps {
		noSecret(t, "a step's note", r.Text())
	}
	if out.Err != nil {
		noSecret(t, "the run's error", out.Err.Error())
	}
	return out
}

// TestConfigStep: the config step of a start writes what differs before
// the start, records it applied and pending, and the record step clears
// pending once the start succeeded; a second start finds it unchanged; a
// validator that fails writes nothing, fails the step naming the file,
// and the service is not started; a registry that does not know the
// configuration the host already has learns it, owing nothing.
func TestConfigStep(t *testing.T) {
	f := newConfigFixture(t, "")
	out := f.startApp(t)
	if out.Err != nil {
		t.Fatalf("start: %v", out.Err)
	}
	note := stepNote(out, "app", StepConfig)
	if !strings.HasPrefix(note, "wrote "+f.envFile+", "+f.appConf+", "+f.motd) {
		t.Fatalf("config step: %q", note)
	}
	if len(out.Config) != 3 || out.Config[0].Instance != (Instance{Host: "h1", Service: "app"}) || out.Config[0].Action != registry.ConfigWritten {
		t.Fatalf("outcome's config changes: %+v", out.Config)
	}
	if _, err := os.Stat(f.upFile); err != nil {
		t.Fatalf("app not started: %v", err)
	}
	if !strings.Contains(readFile(t, f.envFile), secretValue) || readFile(t, f.appConf) != "mode good\nworkers 4\n" {
		t.Fatal("the config step did not write the files")
	}
	rec, ok, err := f.reg.Get("h1", "app")
	if err != nil || !ok || rec.Config == nil || rec.Config.Pending || rec.Config.RunningWith != rec.Config.Applied || rec.Config.AppliedBy != "run-1" {
		t.Fatalf("after the start: %v %v %+v", ok, err, rec.Config)
	}

	// Stopped again; the next start has nothing to write.
	if err := os.Remove(f.upFile); err != nil {
		t.Fatal(err)
	}
	appStat, _ := os.Stat(f.appConf)
	out = f.startApp(t)
	if out.Err != nil || stepNote(out, "app", StepConfig) != "unchanged" || len(out.Config) != 0 {
		t.Fatalf("second start: %v, config %q", out.Err, stepNote(out, "app", StepConfig))
	}
	if st, _ := os.Stat(f.appConf); !st.ModTime().Equal(appStat.ModTime()) {
		t.Fatal("an unchanged config step rewrote app.conf")
	}

	// A validator that fails: nothing written, nothing started.
	if err := os.Remove(f.upFile); err != nil {
		t.Fatal(err)
	}
	f.writeSource(t, "app.conf", "mode bad\n")
	f.writeSource(t, "motd", "changed too\n")
	f.load(t)
	out = f.startApp(t)
	var step StepResult
	for _, r := range out.Steps {
		if r.Task.Step == StepConfig {
			step = r
		}
	}
	if out.Err == nil || step.Status != StepFailed || !strings.Contains(out.Err.Error(), f.appConf) || !strings.Contains(out.Err.Error(), "validate") {
		t.Fatalf("validator failure: %v (config step %s)", out.Err, step.Status)
	}
	if readFile(t, f.appConf) != "mode good\nworkers 4\n" || readFile(t, f.motd) != "hello\n" {
		t.Fatal("a failed validation left files written")
	}
	if _, err := os.Stat(f.upFile); !os.IsNotExist(err) {
		t.Fatal("the service was started after its config step failed")
	}
	if r, _, _ := f.reg.Get("h1", "app"); r.Config.Applied != rec.Config.Applied || r.Config.Pending {
		t.Fatalf("a failed config step changed the registry: %+v", r.Config)
	}

	// A registry that does not know what the host has learns it.
	f.writeSource(t, "app.conf", "mode good\nworkers 4\n")
	f.writeSource(t, "motd", "hello\n")
	f.load(t)
	reg, err := registry.Open(context.Background(), filepath.Join(t.TempDir(), "fresh.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	f.reg = reg
	out = f.startApp(t)
	if out.Err != nil || stepNote(out, "app", StepConfig) != "unchanged" {
		t.Fatalf("fresh registry: %v %q", out.Err, stepNote(out, "app", StepConfig))
	}
	if r, ok, _ := reg.Get("h1", "app"); !ok || r.Config == nil || r.Config.Applied != rec.Config.Applied || r.Config.Pending {
		t.Fatalf("fresh registry's state: %+v", r.Config)
	}
}
