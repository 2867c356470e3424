package cli

import "strings"

// style decides how text output looks: emoji and colour only on a terminal,
// colour never when NO_COLOR is set (https://no-color.org) or TERM=dumb.
// Output piped to a file or another program is plain.
type style struct {
	emoji  bool
	colour bool
}

func styleFor(s Streams) style {
	return style{emoji: s.OutTTY, colour: s.OutTTY && !s.NoColor}
}

// errStyle is the style of what goes to stderr.
func errStyle(s Streams) style {
	return style{emoji: s.ErrTTY, colour: s.ErrTTY && !s.NoColor}
}

// ANSI SGR colours.
const (
	green  = "32"
	yellow = "33"
	red    = "31"
	bold   = "1"
)

// paint colours text. Each line is coloured on its own and reset before
// its newline, so a colour never runs into the next line, a pager's
// status line or the prompt after a trailing "\n".
func (st style) paint(code, text string) string {
	if !st.colour || text == "" {
		return text
	}
	lines := strings.Split(text, "\n")
	for i, l := range lines {
		if l != "" {
			lines[i] = "\x1b[" + code + "m" + l + "\x1b[0m"
		}
	}
	return strings.Join(lines, "\n")
}

// icon returns "🔄 " on a terminal and "" elsewhere.
func (st style) icon(emoji string) string {
	if !st.emoji {
		return ""
	}
	return emoji + " "
}

// ok is the mark before a line that reports success: a green "✓ " on a
// terminal, nothing elsewhere (the words say it).
func (st style) ok() string {
	if !st.emoji {
		return ""
	}
	return st.paint(green, "✓") + " "
}

// bad is the mark before a line that reports a failure: a red "✗ " on a
// terminal, nothing elsewhere.
func (st style) bad() string {
	if !st.emoji {
		return ""
	}
	return st.paint(red, "✗") + " "
}

// step is the mark of a step line (--verbose): "✓"/"✗" on a terminal,
// "ok"/"FAILED" elsewhere.
func (st style) step(failed bool) string {
	switch {
	case failed && st.emoji:
		return st.paint(red, "✗")
	case failed:
		return "FAILED"
	case st.emoji:
		return st.paint(green, "✓")
	}
	return "ok"
}

// state colours a status value: Running green, Stopped yellow, others red.
func (st style) state(text string) string {
	switch text {
	case "Running", "Passed":
		return st.paint(green, text)
	case "Stopped", "None configured", "Degraded":
		return st.paint(yellow, text)
	}
	return st.paint(red, text)
}
