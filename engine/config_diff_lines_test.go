package engine

import "testing"

// TestUnifiedDiffLines: a new file's diff starts at line 0 and shows its
// lines only; a changed file shows no phantom empty line after its last;
// a file differing only in its final newline shows a diff, not none.
func TestUnifiedDiffLines(t *testing.T) {
	cases := []struct {
		name string
		a, b []byte
		want string
	}{
		{"new file", nil, []byte("ok\nworkers 4\n"),
			"--- /dev/null\n+++ declared:/p\n@@ -0,0 +1,2 @@\n+ok\n+workers 4\n"},
		{"changed", []byte("ok\nworkers 4\n"), []byte("ok\nworkers 8\n"),
			"--- host:/p\n+++ declared:/p\n@@ -1,2 +1,2 @@\n ok\n-workers 4\n+workers 8\n"},
		{"final newline only", []byte("ok"), []byte("ok\n"),
			"--- host:/p\n+++ declared:/p\n@@ -1 +1 @@\n-ok \\ No newline at end of file\n+ok\n"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := unifiedDiff("/p", c.a, c.b); got != c.want {
				t.Errorf("got\n%s\nwant\n%s", got, c.want)
			}
		})
	}
}
