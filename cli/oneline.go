package cli

import "strings"

// lineBreak stands for a newline in a text that must stay on one line.
const lineBreak = " | "

// oneLine is text (an error, often with a command's own output in it:
// "error: …" then "hint: …") on one line, for output read line by line:
// a table's cell, a progress line, a -v step line, an "omni: HOST: …"
// line on stderr. Each line break is shown as lineBreak, the whole text
// kept (blank lines and the spaces that end a line aside), so that the
// line still names its host and grep finds it whole. JSON keeps the text
// as it is.
func oneLine(text string) string {
	if !strings.ContainsAny(text, "\r\n") {
		return text
	}
	var parts []string
	for _, line := range strings.Split(strings.ReplaceAll(text, "\r\n", "\n"), "\n") {
		if line = strings.TrimRight(line, " \t\r"); strings.TrimSpace(line) != "" {
			parts = append(parts, line)
		}
	}
	return strings.Join(parts, lineBreak)
}
