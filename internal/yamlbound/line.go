package yamlbound

import "strings"

// tabMsg is yaml.v3's error for a tab in the indentation of a plain
// scalar's continuation line.
const tabMsg = "found a tab character that violates indentation"

// ErrorLine corrects the line of a yaml.v3 error message. For a tab that
// violates indentation yaml.v3 reports the line where the plain scalar
// before it started (the line above the tab, or further up), not the tab's:
// the tab is on the first line from there whose indentation holds one.
// Other messages keep their line.
func ErrorLine(data []byte, line int, msg string) int {
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
