package lab

import (
	"os"
	"path/filepath"
	"testing"
)

// TestLabDirThroughASymlink: a --dir that is a symlink names the directory
// it points to, for up, status and down alike. up took its lock through
// the link, then removed the link (removeLabFiles) and built the lab in a
// new directory in its place: status and down on the target found no lab,
// and its processes ran on.
func TestLabDirThroughASymlink(t *testing.T) {
	base := t.TempDir()
	real := filepath.Join(base, "real")
	if err := os.Mkdir(real, 0o700); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(base, "link")
	if err := os.Symlink(real, link); err != nil {
		t.Fatal(err)
	}
	want, _ := filepath.EvalSymlinks(real)
	for _, dir := range []string{link, real} {
		got, err := absDir(dir)
		if err != nil || got != want {
			t.Errorf("absDir(%s) = %q, %v; want %q", dir, got, err, want)
		}
	}
	if err := removeLabFiles(want, true); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Errorf("the symlink %s is gone or replaced: %v", link, err)
	}
	// A directory that does not exist yet is taken as given.
	if got, err := absDir(filepath.Join(base, "new")); err != nil || got != filepath.Join(base, "new") {
		t.Errorf("absDir(new) = %q, %v", got, err)
	}
}
