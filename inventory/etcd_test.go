package inventory

import (
	"strings"
	"testing"
)

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

// TestEtcdEndpointsThatCannotWork (found by review): endpoints no etcd
// client can ever reach are refused at load, with their line.
func TestEtcdEndpointsThatCannotWork(t *testing.T) {
	for ep, want := range map[string]string{
		"https://10.20.0.5:2379":  "",
		"http://[::1]:2379":       "",
		"http://etcd1:2379/":      "",
		"htp://127.0.0.1:2379":    `scheme "htp"`,
		"127.0.0.1:2379":          "no scheme",
		"10.20.0.5":               "no scheme",
		"http://127.0.0.1":        "no port",
		"http://127.0.0.1:":       "no port",
		"http://127.0.0.1:99999":  "port 99999",
		"http://127.0.0.1:0":      "port 0",
		"http://:2379":            "no host",
		"http://127.0.0.1:2379/x": "a path",
		"http://127.0.0.1:2379?a": "a path, query",
		"http://u:p@h:2379":       "authentication is not supported",
	} {
		src := "version: 1\nregistry:\n  etcd:\n    endpoints:\n      - \"" + ep + "\"\nhosts: {}\nroles: {}\nservices: {}\n"
		_, err := Parse("inv.yaml", []byte(src))
		switch {
		case want == "" && err != nil:
			t.Errorf("%q: %v", ep, err)
		case want != "" && (err == nil || !strings.Contains(err.Error(), "inv.yaml:5: registry.etcd.endpoints: \""+ep+"\": ") || !strings.Contains(err.Error(), want)):
			t.Errorf("%q: got %v, want inv.yaml:5 and %q", ep, err, want)
		}
	}
}
