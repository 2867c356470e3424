package inventory

import "testing"

// TestEtcdPrefixRoot (found by review): registry.etcd.prefix "/" is the
// root, not the default /omni it used to become.
func TestEtcdPrefixRoot(t *testing.T) {
	for given, want := range map[string]string{"/": "/", "//": "/", "/team//a/": "/team/a", "/fleet": "/fleet"} {
		src := "version: 1\nregistry:\n  etcd: {endpoints: [\"http://127.0.0.1:2379\"], prefix: \"" + given + "\"}\nhosts: {}\nroles: {}\nservices: {}\n"
		inv, err := Parse("inv.yaml", []byte(src))
		if err != nil {
			t.Fatalf("%q: %v", given, err)
		}
		if got := inv.Registry.Etcd.Prefix; got != want {
			t.Errorf("prefix %q loads as %q, want %q", given, got, want)
		}
	}
}
