package engine

import (
	"strings"
	"testing"
)

// TestUnifiedDiffShowsEachInvalidByte (found by review): the host's copy
// and the declared content differ only in a byte that is not UTF-8
// (latin-1 "é" against "è"); the diff showed both lines as "caf?", and a
// run of such bytes as one "?": lines that differ looked the same. Each
// invalid byte is shown as \xNN.
func TestUnifiedDiffShowsEachInvalidByte(t *testing.T) {
	diff := unifiedDiff("/etc/app.conf", []byte("name caf\xe9\nrun \xff\xfe\n"), []byte("name caf\xe8\nrun \xff\n"))
	for _, want := range []string{`-name caf\xe9`, `+name caf\xe8`, `-run \xff\xfe`, `+run \xff`} {
		if !strings.Contains(diff, want+"\n") {
			t.Errorf("the diff lacks %q:\n%s", want, diff)
		}
	}
	// Control characters stay '?' and valid UTF-8 is kept.
	if d := unifiedDiff("/p", []byte("a\x1b[31m é\n"), []byte("b\n")); !strings.Contains(d, "-a?[31m é\n") {
		t.Errorf("control characters or UTF-8 shown otherwise:\n%s", d)
	}
}
