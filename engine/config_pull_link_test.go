package engine

import (
	"os"
	"path/filepath"
	"testing"
)

// TestPullWritesThroughASymlinkedSource (found by review): a source that
// is a symbolic link (config/app.conf → shared/app.conf, as a checkout
// shares one file between two names) was replaced by a regular file with
// the host's copy: the link was gone and its target kept the old
// content. pull writes through the link, to its target, and the link
// stays; a link whose target does not exist yet gets it created.
func TestPullWritesThroughASymlinkedSource(t *testing.T) {
	dir := t.TempDir()
	for _, d := range []string{"config", "shared"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	target, link := filepath.Join(dir, "shared", "app.conf"), filepath.Join(dir, "config", "app.conf")
	if err := os.WriteFile(target, []byte("old\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../shared/app.conf", link); err != nil {
		t.Fatal(err)
	}
	if err := writeAtomic(link, []byte("new\n")); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Lstat(link); err != nil || st.Mode()&os.ModeSymlink == 0 {
		t.Fatalf("the source link was replaced: %v %v", st.Mode(), err)
	}
	if b, _ := os.ReadFile(target); string(b) != "new\n" {
		t.Fatalf("the link's target has %q, want the host's copy", b)
	}
	if st, _ := os.Stat(target); st.Mode().Perm() != 0o640 {
		t.Fatalf("the target's mode: %04o, want 0640 kept", st.Mode().Perm())
	}

	dangling := filepath.Join(dir, "config", "new.conf")
	if err := os.Symlink("../shared/new.conf", dangling); err != nil {
		t.Fatal(err)
	}
	if err := writeAtomic(dangling, []byte("x\n")); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "shared", "new.conf")); string(b) != "x\n" {
		t.Fatalf("a dangling link's target has %q", b)
	}
	if st, _ := os.Lstat(dangling); st.Mode()&os.ModeSymlink == 0 {
		t.Fatal("the dangling link was replaced")
	}
}
