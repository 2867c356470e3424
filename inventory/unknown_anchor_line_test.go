package inventory

import (
	"strconv"
	"strings"
	"testing"
)

// TestUnknownAnchorLine (found by review) pins where an alias that names no anchor
// is reported (commit 67123b7, yamlbound.SyntaxError).
//
// Scenario: an inventory defines `&webroles` and uses `*webroles` for w2;
// w3, on line 11, mistypes it `*webrole` (one letter short). A second case
// adds a comment line on top that mentions `*webrole` (the typo is then on
// line 12).
//
// Expected: "x.yaml:11: invalid YAML: unknown anchor 'webrole' referenced"
// (12 with the comment): the typo's line (docs/inventory.md: syntax errors
// are reported "at the line they are on").
//
// Observed: line 8 (the correctly spelt `*webroles` of w2) and line 1 (the
// comment): SyntaxError looks for the first bytes "*webrole" in
// the file, which match inside a comment, a quoted string or a longer alias
// name.
func TestUnknownAnchorLine(t *testing.T) {
	body := `version: 1
hosts:
  w1:
    address: 10.0.0.1
    roles: &webroles [web]
  w2:
    address: 10.0.0.2
    roles: *webroles
  w3:
    address: 10.0.0.3
    roles: *webrole
roles:
  web: [app]
services:
  app: {}
`
	for _, tc := range []struct {
		name, doc string
		want      int
	}{
		{"longer alias first", body, 11},
		{"mentioned in a comment", "# w3 reuses *webrole? no: *webroles\n" + body, 12},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("x.yaml", []byte(tc.doc))
			if err == nil {
				t.Fatal("loaded; want an unknown anchor error")
			}
			want := "x.yaml:" + strconv.Itoa(tc.want) + ": invalid YAML: unknown anchor 'webrole' referenced"
			if !strings.Contains(err.Error(), want) {
				t.Errorf("got:\n%v\nwant: %s", err, want)
			}
		})
	}
}
