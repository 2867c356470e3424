package inventory

import (
	"errors"
	"os"
	"strings"
	"testing"
	"time"
)

// FuzzParse: whatever the bytes, Parse returns an inventory or an
// ErrorList whose lines are in the file, never panics, and ends quickly.
// The seeds are the merge and alias shapes that crashed or hung it.
// scripts/test.sh runs it briefly; crashers are kept in testdata/fuzz.
func FuzzParse(f *testing.F) {
	example, err := os.ReadFile("../examples/inventory.yaml")
	if err != nil {
		f.Fatal(err)
	}
	for _, seed := range []string{
		string(example),
		validInventory,
		configBase, // config_test.go: env, dropin, files and host overrides
		"version: 1\ndefaults: &d\n  sudo: true\n  <<: *d\n",
		"version: 1\ndefaults: &l\n  - <<: *l\n",
		"version: 1\nroles:\n  r: &r [a, *r]\n",
		"version: 1\nhosts: &s\n  a:\n    roles: {<<: *s}\n",
		exponential(12, "  a0: &a0 {user: u}", "  a%d: &a%[1]d {<<: [*a%[2]d, *a%[2]d]}", "defaults: *a%d"),
		exponential(12, "  - &l0 [a, b]", "  - &l%d [*l%[2]d, *l%[2]d]", "roles: {r: *l%d}"),
		exponential(8, "  a0: &a0 {k: v}", "  a%d: &a%[1]d {x: *a%[2]d, y: *a%[2]d, z: *a%[2]d}", "services: {s: {health: *a%d}}"),
		"version: 1\nhosts:\n  h0: &h {address: a, roles: [r]}\n  h1: {<<: *h, port: 22}\nroles: {r: [s]}\nservices:\n  s: &s {stop_grace: 1s}\n  t: {<<: [*s, {start_timeout: 2s}]}\n",
		"version: 1\nservices: " + strings.Repeat("{a: ", 200) + strings.Repeat("}", 200) + "\n",
		"version: 1\nservices: " + strings.Repeat("[", 500) + strings.Repeat("]", 500) + "\n",
		"version: 1\nhosts: {<<: [*x]}\n",
		"--- &a\n<<: *a\n",
		"&a [*a]",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		start := time.Now()
		inv, err := Parse("fuzz.yaml", data)
		if took := time.Since(start); took > 3*time.Second {
			t.Fatalf("Parse took %v on %d bytes", took, len(data))
		}
		if err == nil {
			if inv == nil {
				t.Fatal("no inventory and no error")
			}
			return
		}
		var list ErrorList
		if !errors.As(err, &list) || len(list) == 0 {
			t.Fatalf("error is not an ErrorList: %v", err)
		}
		// YAML breaks lines at \n, \r (alone or before \n), NEL, LS and PS.
		lines := 1
		for _, brk := range []string{"\n", "\r", "\u0085", "\u2028", "\u2029"} {
			lines += strings.Count(string(data), brk)
		}
		for _, e := range list {
			if e.File != "fuzz.yaml" || e.Line < 0 || e.Line > lines+1 {
				t.Fatalf("problem outside the file (%d lines): %v", lines, e)
			}
		}
	})
}
