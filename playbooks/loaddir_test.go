package playbooks_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/omni-fleet/omni/engine"
	"github.com/omni-fleet/omni/playbooks"
)

// TestPlaybooksDirMustExist: a --playbooks (or OMNI_PLAYBOOKS) with a typo,
// or naming a file, is an error naming it. A directory that did not exist
// was taken as one without overrides, so the built-ins ran in place of the
// operator's (found by review). An existing directory without a given
// file still leaves that playbook built in.
func TestPlaybooksDirMustExist(t *testing.T) {
	root := t.TempDir()
	file := filepath.Join(root, "restart.yaml")
	if err := os.WriteFile(file, []byte("name: restart\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		dir, want string
	}{
		{filepath.Join(root, "playbook"), "does not exist"},
		{file, "is not a directory"},
	} {
		_, err := playbooks.LoadDir(tc.dir, engine.Vocabulary())
		if err == nil || !strings.Contains(err.Error(), "playbooks directory "+tc.dir+" "+tc.want) {
			t.Errorf("LoadDir(%s): %v, want \"playbooks directory %s %s\"", tc.dir, err, tc.dir, tc.want)
		}
	}
	if _, err := playbooks.LoadDir(root, engine.Vocabulary()); err == nil {
		t.Error("the restart.yaml without steps in an existing directory was not read")
	}
	if _, err := playbooks.LoadDir(t.TempDir(), engine.Vocabulary()); err != nil {
		t.Errorf("an empty directory: %v", err)
	}
}
