package playbooks_test

import (
	"fmt"
	"github.com/omni-fleet/omni/engine"
	"github.com/omni-fleet/omni/playbooks"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// chain returns a playbook whose step merges an anchor built from two
// copies of the previous one, levels deep.
func chain(levels int) string {
	var b strings.Builder
	b.WriteString("name: restart\nx:\n  a0: &a0 {step: stop}\n")
	for i := 1; i <= levels; i++ {
		fmt.Fprintf(&b, "  a%d: &a%d {<<: [*a%d, *a%d]}\n", i, i, i-1, i-1)
	}
	fmt.Fprintf(&b, "steps:\n  - {<<: *a%d}\n", levels)
	return b.String()
}

// TestHostilePlaybooks: a playbook override comes from the same git
// repository as the inventory. Self-including merges and aliases and
// exponential merges are refused before decoding, with FILE:LINE (yaml.v3's
// own decoder bounded them too, but without a line, or not at all when
// the anchors sat under a key it reports as unknown); a file larger than
// MaxBytes is refused before it is read.
func TestHostilePlaybooks(t *testing.T) {
	for _, tc := range []struct{ name, content, want string }{
		{"merge of itself", "name: restart\nsteps:\n  - &s\n    step: stop\n    <<: *s\n", "restart.yaml:5: merge (<<) of *s refers to a mapping that contains it (&s at line 3)"},
		{"list of itself", "name: restart\nsteps: &l [*l]\n", "restart.yaml:2: alias *l refers to a list that contains it (&l at line 2)"},
		{"exponential merges", chain(40), "restart.yaml:13: merge (<<) of *a9 makes the playbook too large"},
		{"too large", "name: restart\n# " + strings.Repeat("x", playbooks.MaxBytes) + "\n", "restart.yaml: the playbook is larger than 1048576 bytes (1 MiB)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "restart.yaml"), []byte(tc.content), 0o644); err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			_, err := playbooks.LoadDir(dir, engine.Vocabulary())
			if took := time.Since(start); took > 2*time.Second {
				t.Errorf("took %v", took)
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
		})
	}
}
