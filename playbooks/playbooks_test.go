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

func TestBuiltinPlaybooksFollowTheSpec(t *testing.T) {
	set, err := playbooks.Builtin(engine.Vocabulary())
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{
		"start":   {"check-stopped", "check-deps", "start", "health", "record"},
		"stop":    {"confirm", "stop", "verify-stopped", "record"},
		"restart": {"check-deps", "stop", "verify-stopped", "start", "health", "record"},
		"logs":    {"logs"},
	}
	for name, steps := range want {
		pb, err := set.Get(name)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, s := range pb.Steps {
			got = append(got, s.Name)
		}
		if len(got) != len(steps) {
			t.Fatalf("%s: steps %v, want %v", name, got, steps)
		}
		for i := range got {
			if got[i] != steps[i] {
				t.Fatalf("%s: steps %v, want %v", name, got, steps)
			}
		}
	}
}

func TestParseErrors(t *testing.T) {
	cases := []struct {
		name, yaml, want string
	}{
		{"unknown step", "name: stop\nsteps:\n  - step: stop\n  - step: halt\n",
			`x.yaml:4: unknown step "halt" (known: check-deps, check-stopped, confirm, health, logs, record, start, stop, verify-stopped)`},
		{"unknown key", "name: stop\nsteps:\n  - step: stop\n    graze: 3s\n",
			`x.yaml:3: unknown key "graze" in step (known: step, timeout, grace)`},
		{"bad duration", "name: stop\nsteps:\n  - step: stop\n    timeout: soon\n",
			`x.yaml:3: timeout: "soon" is not a duration like 30s, above 0 and at most 2562047h`},
		{"grace on start", "name: start\nsteps:\n  - step: start\n    grace: 3s\n",
			`x.yaml:3: grace applies only to the stop step`},
		{"repeated", "name: stop\nsteps:\n  - step: stop\n  - step: stop\n",
			`x.yaml:4: step "stop" repeated (first at line 3)`},
		{"top-level key", "name: stop\nstepz: []\n",
			`x.yaml:2: unknown key "stepz" (known: name, description, steps)`},
		{"syntax", "name: stop\nsteps: [\n", `x.yaml:2: did not find expected node content`},
		{"no steps", "name: stop\n", `x.yaml:1: playbook "stop" has no steps`},
		{"empty steps", "# a stop\nname: stop\nsteps: []\n", `x.yaml:3: playbook "stop" has no steps`},
		{"empty file", "", `x.yaml:1: the playbook is empty (want name: and steps:)`},
		{"only a comment", "# nothing yet\n", `x.yaml:1: the playbook is empty (want name: and steps:)`},
		{"no name", "description: x\nsteps:\n  - step: stop\n", `x.yaml:1: missing name`},
		{"a second document", "name: stop\nsteps:\n  - step: stop\n---\nsteps:\n  - step: bogus\n",
			`x.yaml:4: a second YAML document (after ---): a playbook file holds one`},
		{"a duration past the largest", "name: stop\nsteps:\n  - step: stop\n    timeout: 100000000h\n",
			`x.yaml:3: timeout: "100000000h" is not a duration like 30s, above 0 and at most 2562047h`},
		{"tab", "name: stop\nsteps:\n  - step: stop\n    timeout: 3s\n\tgrace: 2s\n", `x.yaml:5: found a tab character that violates indentation`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := playbooks.Parse("x.yaml", []byte(c.yaml), engine.Vocabulary())
			if err == nil || err.Error() != c.want {
				t.Fatalf("error\n got: %v\nwant: %s", err, c.want)
			}
		})
	}
}

func TestOverrideDirReplacesOnePlaybook(t *testing.T) {
	dir := t.TempDir()
	custom := "name: stop\nsteps:\n  - step: confirm\n  - step: stop\n    grace: 5s\n  - step: record\n"
	if err := os.WriteFile(filepath.Join(dir, "stop.yaml"), []byte(custom), 0o644); err != nil {
		t.Fatal(err)
	}
	set, err := playbooks.LoadDir(dir, engine.Vocabulary())
	if err != nil {
		t.Fatal(err)
	}
	stop, _ := set.Get("stop")
	if len(stop.Steps) != 3 || stop.Steps[1].Grace != 5*time.Second || stop.Source != filepath.Join(dir, "stop.yaml") {
		t.Fatalf("override not applied: %+v", stop)
	}
	restart, _ := set.Get("restart")
	if restart.Source != "builtin:restart.yaml" {
		t.Fatalf("restart should stay builtin, got %s", restart.Source)
	}
}

// TestValidatesAgainstTheVocabularyHandedIn: the package keeps no step
// list: the names, the grace key and the safety rules all come from the
// vocabulary it is handed.
func TestValidatesAgainstTheVocabularyHandedIn(t *testing.T) {
	vocab := playbooks.Vocabulary{
		{Name: "ask", DecideFirst: true},
		{Name: "drain", Grace: true, Changes: true},
		{Name: "note", Last: true},
	}
	pb, err := playbooks.Parse("x.yaml", []byte("name: stop\nsteps:\n  - step: ask\n  - step: drain\n    grace: 4s\n  - step: note\n"), vocab)
	if err != nil || len(pb.Steps) != 3 || pb.Steps[1].Grace != 4*time.Second {
		t.Fatalf("parse with a vocabulary of its own: %+v, %v", pb, err)
	}
	for _, c := range []struct{ yaml, want string }{
		{"name: stop\nsteps:\n  - step: stop\n", `x.yaml:3: unknown step "stop" (known: ask, drain, note)`},
		{"name: stop\nsteps:\n  - step: ask\n    grace: 4s\n", `x.yaml:3: grace applies only to the drain step`},
	} {
		if _, err := playbooks.Parse("x.yaml", []byte(c.yaml), vocab); err == nil || err.Error() != c.want {
			t.Errorf("error\n got: %v\nwant: %s", err, c.want)
		}
	}
	// The built-ins name engine steps: an empty vocabulary refuses them.
	if _, err := playbooks.Builtin(nil); err == nil || !strings.Contains(err.Error(), `unknown step`) {
		t.Errorf("built-ins with no vocabulary: %v, want an unknown step", err)
	}
}
