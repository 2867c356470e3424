package registry

import "testing"

// TestEtcdPrefix pins the keys of each prefix: unset is the default
// /omni, "/" is the root (found by review: "/" became /omni).
func TestEtcdPrefix(t *testing.T) {
	for p, want := range map[string]string{
		"":           "/omni",
		"/":          "",
		"//":         "",
		"/omni":      "/omni",
		"/team/":     "/team",
		"//team//a/": "/team/a",
	} {
		if got := etcdPrefix(p); got != want {
			t.Errorf("etcdPrefix(%q) = %q, want %q", p, got, want)
		}
	}
}
