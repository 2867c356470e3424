package cutnote

import "testing"

func TestIndexFindsTheNote(t *testing.T) {
	b := append(append([]byte("head"), Note(12345)...), "tail"...)
	start, end := Index(b)
	if start != 4 || string(b[end:]) != "tail" {
		t.Errorf("Index = %d, %d in %q", start, end, b)
	}
	if s, e := Index([]byte("no note… (12 bytes of output not kept) … here")); s != -1 || e != -1 {
		t.Errorf("a note without its line breaks: %d, %d", s, e)
	}
}
