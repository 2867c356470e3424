package yamlbound

import (
	"regexp"
	"strconv"
	"testing"

	"gopkg.in/yaml.v3"
)

// TestErrorLineOfATab: the line given for a tab in the indentation is the
// tab's, however far above the scalar it continues started.
func TestErrorLineOfATab(t *testing.T) {
	re := regexp.MustCompile(`line (\d+): (.*)$`)
	for _, tc := range []struct {
		doc  string
		want int
	}{
		{"a: 1\nb: 2\n\tc: 3\n", 3},
		{"hosts:\n  w1:\n    address: x\n\troles: [r]\n", 4},
		{"a:\n  b: 1\n\tc: 2\n", 3},
		{"a: 1\n\tb: 2\n", 2},
		{"a: one\n  two\n  three\n\tfour: 4\n", 4},
	} {
		var v any
		err := yaml.Unmarshal([]byte(tc.doc), &v)
		if err == nil {
			t.Fatalf("%q: no error", tc.doc)
		}
		m := re.FindStringSubmatch(err.Error())
		if m == nil {
			t.Fatalf("%q: no line in %v", tc.doc, err)
		}
		line, _ := strconv.Atoi(m[1])
		if got := ErrorLine([]byte(tc.doc), line, m[2]); got != tc.want {
			t.Errorf("%q: line %d (yaml.v3 said %d), want %d", tc.doc, got, line, tc.want)
		}
	}
}
