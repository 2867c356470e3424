package yamlbound

import (
	"regexp"
	"strconv"
	"strings"
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

// TestSyntaxErrorLine: every kind of yaml.v3 parse error is placed on the
// line it is about. yaml.v3 counts a parser error's line from 0 and a
// scanner error's from 1, and gives no line for an encoding error, a
// control character or an unknown anchor (found by review).
func TestSyntaxErrorLine(t *testing.T) {
	for _, tc := range []struct {
		name string
		doc  string
		want int
		msg  string // a part of the message
	}{
		// Parser errors: the line of their context (where the list,
		// the mapping opened), else of the problem.
		{"flow list left open", "a: 1\n\n\nb: [x, y\n", 4, "did not find expected ',' or ']'"},
		{"flow mapping left open", "a: 1\nb: {x: [y}\n", 2, "did not find expected ',' or ']'"},
		{"bad indentation", "a:\n  b:\n    c: 1\n   d: 2\n", 2, "did not find expected key"},
		{"flow list left open on the first line", "a: [1\n", 1, "did not find expected ',' or ']'"},
		{"end of stream without a final newline", "a: 1\nb: [1", 2, "did not find expected ',' or ']'"},
		// Scanner errors: yaml.v3's line is right.
		{"tab", "a: 1\nb:\n\tc: 2\n", 3, "found character that cannot start any token"},
		{"mapping value", "a: 1\nb: c: d\n", 2, "mapping values are not allowed in this context"},
		// No line from yaml.v3.
		{"invalid UTF-8", "a: 1\nb: 2\nc: \"caf\xe9\"\n", 3, "byte 0xe9 at column 8 is not UTF-8"},
		{"invalid UTF-8 after CRLF and wide characters", "a: 1\r\nb: \"é\xff\"\r\n", 2, "byte 0xff at column 6 is not UTF-8"},
		{"truncated UTF-8 at the end", "a: 1\nb: \xe2\x82", 2, "byte 0xe2 at column 4 is not UTF-8"},
		{"control character", "a: 1\nb: \"x\x01\"\n", 2, `control character '\x01' at column 6`},
		{"unknown anchor", "a: 1\nb:\n  c: *nope\n", 3, "unknown anchor 'nope' referenced"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var n yaml.Node
			err := yaml.Unmarshal([]byte(tc.doc), &n)
			if err == nil {
				t.Fatalf("%q: no error", tc.doc)
			}
			line, msg := SyntaxError([]byte(tc.doc), err)
			if line != tc.want || !strings.Contains(msg, tc.msg) {
				t.Errorf("%q: line %d: %s (yaml.v3: %v); want line %d: ...%s...", tc.doc, line, msg, err, tc.want, tc.msg)
			}
		})
	}
}
