package yamlbound

import (
	"bytes"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// SyntaxError says where yaml.v3's parse error err is in data and what it
// is: a 1-based line, and the message without yaml.v3's "yaml: line N: "
// prefix. The errors yaml.v3 gives without a line (an encoding error, a
// control character, an unknown anchor) are looked for in data; a problem
// on the first line has none either, so 1 is the fallback.
func SyntaxError(data []byte, err error) (int, string) {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	if line, rest, ok := lineOf(msg); ok {
		return ErrorLine(data, line, rest), rest
	}
	anchor, unknownAnchor := strings.CutPrefix(msg, "unknown anchor '")
	anchor, unknownAnchor = strings.CutSuffix(anchor, "' referenced")
	switch {
	case strings.Contains(msg, "UTF-8") || msg == "invalid Unicode character":
		if i := firstInvalidUTF8(data); i >= 0 {
			return lineAt(data, i), fmt.Sprintf("byte 0x%02x at column %d is not UTF-8: the file must be saved as UTF-8", data[i], columnAt(data, i))
		}
	case strings.Contains(msg, "control characters are not allowed"):
		if i := bytes.IndexFunc(data, isControl); i >= 0 {
			r, _ := utf8.DecodeRune(data[i:])
			return lineAt(data, i), fmt.Sprintf("control character %q at column %d: not allowed anywhere in YAML", r, columnAt(data, i))
		}
	case unknownAnchor && strings.HasPrefix(msg, "unknown anchor '"):
		if i := aliasAt(data, anchor); i >= 0 {
			return lineAt(data, i), msg
		}
	}
	return 1, msg
}

// lineOf splits yaml.v3's "line N: MESSAGE" (written out, not as a
// regular expression: compiling one costs every start of omni).
func lineOf(msg string) (line int, rest string, ok bool) {
	msg, ok = strings.CutPrefix(msg, "line ")
	if !ok {
		return 0, "", false
	}
	num, rest, ok := strings.Cut(msg, ": ")
	if !ok || num == "" || strings.Trim(num, "0123456789") != "" {
		return 0, "", false
	}
	line, err := strconv.Atoi(num)
	return line, rest, err == nil
}

// tabMsg is yaml.v3's error for a tab in the indentation of a plain
// scalar's continuation line.
const tabMsg = "found a tab character that violates indentation"

// parserProblems are the messages of yaml.v3's parser errors (parserc.go),
// as opposed to its scanner's (scannerc.go). yaml.v3 gives the line of a
// mark, which counts from 0, and adds 1 to it for scanner errors only.
var parserProblems = []string{
	"did not find expected <stream-start>",
	"did not find expected <document start>",
	"did not find expected node content",
	"did not find expected '-' indicator",
	"did not find expected key",
	"did not find expected ',' or ']'",
	"did not find expected ',' or '}'",
	"found undefined tag handle",
	"found duplicate %YAML directive",
	"found incompatible YAML document",
	"found duplicate %TAG directive",
}

// ErrorLine corrects the line of a yaml.v3 error message:
//   - a parser error's line counts from 0 (see parserProblems): 1 is added,
//     and the result is kept within the file (an error at the end of the
//     stream is on the last line);
//   - for a tab that violates indentation yaml.v3 reports the line where
//     the plain scalar before it started (the line above the tab, or
//     further up), not the tab's: the tab is on the first line from there
//     whose indentation holds one.
//
// Other messages keep their line.
func ErrorLine(data []byte, line int, msg string) int {
	if slices.Contains(parserProblems, msg) {
		return max(1, min(line+1, lastLine(data)))
	}
	if !strings.Contains(msg, tabMsg) || line < 1 {
		return line
	}
	lines := strings.Split(string(data), "\n")
	for i := line - 1; i < len(lines); i++ {
		indent := lines[i][:len(lines[i])-len(strings.TrimLeft(lines[i], " \t"))]
		if strings.Contains(indent, "\t") {
			return i + 1
		}
	}
	return line
}

// lineAt is the 1-based line of byte offset i of data, counted as yaml.v3
// counts lines (so that it agrees with the lines of the other errors): a
// line ends at "\r\n", "\r", "\n", NEL (U+0085), LS (U+2028) or PS (U+2029).
func lineAt(data []byte, i int) int {
	line := 1
	for j := 0; j < i; {
		r, size := utf8.DecodeRune(data[j:])
		switch r {
		case '\r':
			if j+1 < i && data[j+1] == '\n' {
				size++
			}
			line++
		case '\n', '\u0085', '\u2028', '\u2029':
			line++
		}
		j += size
	}
	return line
}

// lastLine is the number of the last line of data: a final line break ends
// the last line rather than starting another.
func lastLine(data []byte) int {
	n := lineAt(data, len(data))
	if r, _ := utf8.DecodeLastRune(data); r == '\n' || r == '\r' || r == '\u0085' || r == '\u2028' || r == '\u2029' {
		n--
	}
	return max(n, 1)
}

// columnAt is the 1-based column, in characters, of byte offset i of data.
func columnAt(data []byte, i int) int {
	start := bytes.LastIndexAny(data[:i], "\r\n") + 1
	return utf8.RuneCount(data[start:i]) + 1
}

// firstInvalidUTF8 is the offset of the first byte of data that is not
// part of valid UTF-8, or -1.
func firstInvalidUTF8(data []byte) int {
	for i := 0; i < len(data); {
		r, size := utf8.DecodeRune(data[i:])
		if r == utf8.RuneError && size == 1 {
			return i
		}
		i += size
	}
	return -1
}

// isControl says whether yaml.v3's reader refuses r ("control characters
// are not allowed"): YAML allows tab, line feed, carriage return, NEL and
// the printable characters, not the other C0 and C1 controls, DEL, U+FFFE
// nor U+FFFF.
func isControl(r rune) bool {
	switch {
	case r == '\t' || r == '\n' || r == '\r' || r == 0x85:
		return false
	case r < 0x20 || r >= 0x7f && r <= 0x9f:
		return true
	}
	return r == 0xfffe || r == 0xffff
}

// aliasAt is the offset of the first alias *name in data, -1 when none:
// a '*' where a node may begin (at a line's start, or after a space or a
// flow indicator), followed by name and then the alias's end (a space, a
// flow indicator, the line's end), outside a comment and outside quotes
// on its line. Not a YAML parser: what is found here is only where an
// error yaml.v3 gave without a line is shown.
func aliasAt(data []byte, name string) int {
	alias := "*" + name
	for lineStart := 0; lineStart < len(data); {
		end := bytes.IndexByte(data[lineStart:], '\n')
		if end < 0 {
			end = len(data)
		} else {
			end += lineStart
		}
		var quote byte
		for i := lineStart; i < end; i++ {
			c := data[i]
			switch {
			case quote != 0:
				if c == quote {
					quote = 0
				}
			case c == '\'' || c == '"':
				quote = c
			case c == '#' && (i == lineStart || data[i-1] == ' ' || data[i-1] == '\t'):
				i = end // a comment: the rest of the line
			case c == '*' && (i == lineStart || strings.IndexByte(" \t[{,", data[i-1]) >= 0) &&
				bytes.HasPrefix(data[i:end], []byte(alias)) &&
				(i+len(alias) == end || strings.IndexByte(" \t\r,]}", data[i+len(alias)]) >= 0):
				return i
			}
		}
		lineStart = end + 1
	}
	return -1
}
