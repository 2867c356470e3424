package playbooks_test

import (
	"github.com/omni-fleet/omni/engine"
	"github.com/omni-fleet/omni/playbooks"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// override writes file in a fresh directory and loads it over the built-ins.
func override(t *testing.T, file, content string) (*playbooks.Set, string, error) {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, file)
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	set, err := playbooks.LoadDir(dir, engine.Vocabulary())
	return set, path, err
}

// TestOverrideCannotDropASafetyStep: an override may reorder and time the
// steps, but the confirmation, the dependency check and the registry record
// of the built-in stay, in an order where they still protect: confirm and
// check-deps before the first step that changes the service, record last.
// Each refusal names FILE:LINE.
func TestOverrideCannotDropASafetyStep(t *testing.T) {
	for _, tc := range []struct{ name, file, content, want string }{
		{"stop without confirm", "stop.yaml",
			"name: stop\nsteps:\n  - step: stop\n  - step: verify-stopped\n  - step: record\n",
			`stop.yaml:2: the stop playbook has no "confirm" step: an override may reorder steps and change their timeouts, but not drop a safety step (the built-in stop has confirm, record)`},
		{"stop without record", "stop.yaml",
			"name: stop\nsteps:\n  - step: confirm\n  - step: stop\n",
			`stop.yaml:2: the stop playbook has no "record" step`},
		{"stop with neither", "stop.yaml",
			"name: stop\ndescription: x\nsteps:\n  - step: stop\n",
			`stop.yaml:3: the stop playbook has no "confirm" or "record" step`},
		{"start without check-deps", "start.yaml",
			"name: start\nsteps:\n  - step: check-stopped\n  - step: start\n  - step: health\n  - step: record\n",
			`start.yaml:2: the start playbook has no "check-deps" step`},
		{"start without record", "start.yaml",
			"name: start\nsteps:\n  - step: check-deps\n  - step: start\n",
			`start.yaml:2: the start playbook has no "record" step`},
		{"restart without check-deps", "restart.yaml",
			"name: restart\nsteps:\n  - step: stop\n  - step: start\n  - step: record\n",
			`restart.yaml:2: the restart playbook has no "check-deps" step`},
		{"restart without record", "restart.yaml",
			"name: restart\nsteps:\n  - step: check-deps\n  - step: stop\n  - step: start\n",
			`restart.yaml:2: the restart playbook has no "record" step`},
		{"confirm after stop", "stop.yaml",
			"name: stop\nsteps:\n  - step: stop\n  - step: confirm\n  - step: record\n",
			`stop.yaml:4: step "confirm" must come before "stop" (line 3): it must decide before anything changes`},
		{"check-deps after start", "start.yaml",
			"name: start\nsteps:\n  - step: start\n  - step: check-deps\n  - step: record\n",
			`start.yaml:4: step "check-deps" must come before "start" (line 3)`},
		{"record not last", "start.yaml",
			"name: start\nsteps:\n  - step: check-deps\n  - step: start\n  - step: record\n  - step: health\n",
			`start.yaml:5: step "record" must be the last step ("health" follows it at line 6)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, path, err := override(t, tc.file, tc.content)
			want := filepath.Join(filepath.Dir(path), tc.want)
			if err == nil || !strings.HasPrefix(err.Error(), want) {
				t.Fatalf("error\n got: %v\nwant: %s", err, want)
			}
		})
	}
}

// TestOverrideMayReorderAndTime: moving the non-safety steps and setting
// timeouts and grace stays allowed.
func TestOverrideMayReorderAndTime(t *testing.T) {
	for _, tc := range []struct{ file, content string }{
		{"stop.yaml", "name: stop\nsteps:\n  - step: confirm\n  - step: stop\n    grace: 2m\n    timeout: 3m\n  - step: record\n    timeout: 5s\n"},
		{"start.yaml", "name: start\nsteps:\n  - step: check-deps\n    timeout: 10s\n  - step: check-stopped\n  - step: start\n    timeout: 90s\n  - step: health\n  - step: record\n"},
		{"restart.yaml", "name: restart\nsteps:\n  - step: check-deps\n  - step: stop\n    grace: 1m\n  - step: start\n  - step: verify-stopped\n  - step: health\n    timeout: 2m\n  - step: record\n"},
		{"logs.yaml", "name: logs\nsteps:\n  - step: logs\n    timeout: 3s\n"},
	} {
		t.Run(tc.file, func(t *testing.T) {
			set, path, err := override(t, tc.file, tc.content)
			if err != nil {
				t.Fatal(err)
			}
			pb, _ := set.Get(strings.TrimSuffix(tc.file, ".yaml"))
			if pb.Source != path {
				t.Fatalf("override not applied: %s", pb.Source)
			}
			var timed bool
			for _, st := range pb.Steps {
				timed = timed || st.Timeout > 0 && st.Timeout <= 3*time.Minute
			}
			if !timed {
				t.Fatalf("timeouts not read: %+v", pb.Steps)
			}
		})
	}
}

// TestSafetyFollowsTheSteps: what a step needs does not depend on the
// file it is in. A stop that nothing starts again asks first (confirm) and
// is recorded, in start.yaml or logs.yaml as in stop.yaml; a start checks
// its dependencies and is recorded wherever it is. A stop followed by a
// start (a restart) asks nothing, as the built-in restart.
func TestSafetyFollowsTheSteps(t *testing.T) {
	for _, tc := range []struct{ name, file, content, want string }{
		{"a start playbook that stops", "start.yaml",
			"name: start\nsteps:\n  - step: check-deps\n  - step: stop\n  - step: record\n",
			`start.yaml:4: step "stop" needs a "confirm" step in the same playbook, since no "start" follows it (the service stays down)`},
		{"a logs playbook that stops", "logs.yaml",
			"name: logs\nsteps:\n  - step: stop\n",
			`logs.yaml:3: step "stop" needs a "record" step in the same playbook, whichever playbook it is in`},
		{"a logs playbook that stops and records", "logs.yaml",
			"name: logs\nsteps:\n  - step: logs\n  - step: stop\n  - step: record\n",
			`logs.yaml:4: step "stop" needs a "confirm" step`},
		{"a stop playbook that starts again", "stop.yaml",
			"name: stop\nsteps:\n  - step: confirm\n  - step: stop\n  - step: start\n  - step: record\n",
			`stop.yaml:5: step "start" needs a "check-deps" step`},
		{"a restart that starts first, then stops", "restart.yaml",
			"name: restart\nsteps:\n  - step: check-deps\n  - step: start\n  - step: stop\n  - step: record\n",
			`restart.yaml:5: step "stop" needs a "confirm" step in the same playbook, since no "start" follows it`},
		{"a logs playbook that starts", "logs.yaml",
			"name: logs\nsteps:\n  - step: start\n  - step: record\n",
			`logs.yaml:3: step "start" needs a "check-deps" step`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := override(t, tc.file, tc.content)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.want)
			}
		})
	}
	for _, tc := range []struct{ name, file, content string }{
		{"a restart without confirm", "restart.yaml",
			"name: restart\nsteps:\n  - step: check-deps\n  - step: stop\n  - step: start\n  - step: record\n"},
		{"a logs playbook that only reads", "logs.yaml",
			"name: logs\nsteps:\n  - step: logs\n  - step: health\n"},
		{"a start playbook that stops with confirmation", "start.yaml",
			"name: start\nsteps:\n  - step: confirm\n  - step: check-deps\n  - step: stop\n  - step: start\n  - step: record\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, _, err := override(t, tc.file, tc.content); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestOverrideNameMismatchHasALine: a file whose name: is not its file's
// says where.
func TestOverrideNameMismatchHasALine(t *testing.T) {
	_, path, err := override(t, "stop.yaml", "# stop, for staging\nname: halt\nsteps:\n  - step: confirm\n  - step: stop\n  - step: record\n")
	if err == nil || err.Error() != path+`:2: name is "halt", want "stop" (the file name)` {
		t.Fatalf("err = %v", err)
	}
}
