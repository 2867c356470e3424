package config_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/omni-fleet/omni/engine/config"
)

func TestReadLiveReportsFilesWithHostilePathsInOneCommand(t *testing.T) {
	r := newRunner(t, "127.0.18.1")
	dir := t.TempDir()
	names := []string{"plain.conf", "with space.conf", `it's "quoted".conf`, "new\nline.conf", "$(touch pwned)"}
	var files []config.File
	for i, n := range names {
		p := filepath.Join(dir, n)
		if err := os.WriteFile(p, []byte(strings.Repeat(n, i+1)+"\n"), 0o640); err != nil {
			t.Fatal(err)
		}
		files = append(files, config.File{Path: p})
	}
	files = append(files, config.File{Path: filepath.Join(dir, "missing.conf")})
	secret := filepath.Join(dir, "secret.env")
	os.WriteFile(secret, []byte("PASSWORD=hunter2\n"), 0o600)
	files = append(files, config.File{Path: secret, Secret: true})

	live, err := config.ReadLive(testCtx(t), r, false, files, true)
	if err != nil {
		t.Fatal(err)
	}
	if r.calls() != 1 {
		t.Fatalf("ReadLive ran %d commands, want 1", r.calls())
	}
	for i, n := range names {
		want, _ := os.ReadFile(files[i].Path)
		l := live[i]
		if !l.Exists || l.Hash != config.HashBytes(want) || string(l.Content) != string(want) || l.Mode != 0o640 || l.Owner != "root" || l.Group != "root" || l.Size != int64(len(want)) {
			t.Errorf("%q: got %+v", n, l)
		}
		fi, _ := os.Stat(files[i].Path)
		if !l.MTime.Equal(fi.ModTime()) {
			t.Errorf("%q: mtime %v, want %v (to the nanosecond)", n, l.MTime, fi.ModTime())
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "pwned")); err == nil {
		t.Error("a path was run as a command")
	}
	if l := live[len(names)]; l.Exists || l.Hash != "" {
		t.Errorf("missing file: %+v", l)
	}
	s := live[len(names)+1]
	if !s.Exists || s.Content != nil || s.Hash != config.HashBytes([]byte("PASSWORD=hunter2\n")) {
		t.Errorf("secret file: content must never be read, hash must be: %+v", s)
	}

	// Without content: hashes from the host's sha256sum, no content.
	live, err = config.ReadLive(testCtx(t), r, false, files[:2], false)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := os.ReadFile(files[1].Path)
	if live[1].Content != nil || live[1].Hash != config.HashBytes(want) {
		t.Errorf("without content: %+v", live[1])
	}
}

func TestReadLiveErrorsNamePathAndCause(t *testing.T) {
	r := newRunner(t, "127.0.18.2")
	dir := t.TempDir()
	big := filepath.Join(dir, "big")
	os.WriteFile(big, make([]byte, config.MaxReadContent+1), 0o644)
	sub := filepath.Join(dir, "a dir")
	os.Mkdir(sub, 0o755)
	cases := []struct {
		f       config.File
		content bool
		want    string
	}{
		{config.File{Path: big}, true, "more than the 1048576 omni reads"},
		{config.File{Path: sub}, false, "not a regular file"},
		{config.File{Path: big + "/x"}, false, "Not a directory"},
		{config.File{Path: "relative/path"}, false, "not an absolute path"},
	}
	for _, c := range cases {
		_, err := config.ReadLive(testCtx(t), r, false, []config.File{c.f}, c.content)
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), c.f.Path) {
			t.Errorf("%s: error %v, want it to name the path and say %q", c.f.Path, err, c.want)
		}
	}
	// Without content a big file is fine: only its hash travels.
	if _, err := config.ReadLive(testCtx(t), r, false, []config.File{{Path: big}}, false); err != nil {
		t.Error(err)
	}
}
