package manager

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"unicode"
	"unicode/utf8"
)

// The log tail of a failure: when a service fails to start (or fails its
// health check right after a start), omni reads the last lines of its log
// over the connection it has open, so that the error says why in the
// service's own words instead of "Job for X failed; see journalctl".
// It is bounded: at most TailLines lines of at most TailLineMax bytes each,
// read within the deadline of the command that reads it.

// TailLines is how many lines of the log a failure carries.
const TailLines = 10

// TailLineMax bounds each line of a log tail, in bytes.
const TailLineMax = 300

// tailFetch is how many journal entries are read to pick the TailLines
// shown and the reason: systemd's own lines (a restart loop writes many)
// must not push the service's own words out.
const tailFetch = 30

// LogTail is the end of a service's log around a failure.
type LogTail struct {
	// Source says where the lines come from: "journalctl -u x.service
	// since the start", "the logs command".
	Source string
	// Lines are the last lines, oldest first, each cut to TailLineMax bytes
	// and with control characters replaced.
	Lines []string
	// Reason is the last line the service itself wrote (not its manager:
	// systemd's "Failed to start" lines), or the last line when it wrote
	// none: the short form of why it failed.
	Reason string
	// Err says why the log could not be read ("" when it was).
	Err string
}

// Empty reports a tail with nothing to show.
func (t LogTail) Empty() bool { return len(t.Lines) == 0 && t.Err == "" }

// LogError is a failure that carries the service's log tail. Its message
// is the failure's own; the tail is shown beside it.
type LogError struct {
	Err  error
	Tail LogTail
}

func (e *LogError) Error() string { return e.Err.Error() }

// Unwrap returns the failure.
func (e *LogError) Unwrap() error { return e.Err }

// Tailer is a Manager that can read the end of its service's log after a
// failure. Both managers are.
type Tailer interface {
	// LogTail reads the last lines of the service's log; for systemd, only
	// those since this manager's last Start (when it started the unit).
	LogTail(ctx context.Context, r Runner) LogTail
}

// Printable is s as a terminal may show it, whatever a remote command
// printed: invalid UTF-8 and control characters become '?', a tab a
// space, so that output cannot move the operator's cursor or recolour the
// terminal.
func Printable(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '\t' {
			return ' '
		}
		if unicode.IsControl(r) || r == utf8.RuneError {
			return '?'
		}
		return r
	}, strings.ToValidUTF8(s, "?"))
}

// cleanLine cuts a line to TailLineMax bytes (on a rune boundary) and
// replaces control characters, so that a log line cannot move the
// operator's cursor or recolour the terminal.
func cleanLine(s string) string {
	s = Printable(strings.TrimRight(s, "\r\n"))
	if len(s) > TailLineMax {
		cut := TailLineMax
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	return s
}

// plainTail is the tail of a plain log (the command manager's logs
// command): its last TailLines non-blank lines; the reason is the last.
func plainTail(source string, out []byte) LogTail {
	t := LogTail{Source: source}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		if line := cleanLine(sc.Text()); strings.TrimSpace(line) != "" {
			t.Lines = append(t.Lines, line)
		}
	}
	if len(t.Lines) > TailLines {
		t.Lines = t.Lines[len(t.Lines)-TailLines:]
	}
	if n := len(t.Lines); n > 0 {
		t.Reason = strings.TrimSpace(t.Lines[n-1])
	}
	return t
}

// journalTail reads journalctl's `-o json --all --output-fields=_PID,MESSAGE`
// output: one JSON object a line. Lines from PID 1 are systemd's own
// ("Failed to start …"); the reason is the last line of any other process.
// Lines that are not JSON are what journalctl said instead (no permission
// to read the journal): they become Err when there is no entry.
func journalTail(source string, out []byte) LogTail {
	t := LogTail{Source: source}
	var said []string
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		raw := bytes.TrimSpace(sc.Bytes())
		if len(raw) == 0 {
			continue
		}
		var entry struct {
			PID     string          `json:"_PID"`
			Message json.RawMessage `json:"MESSAGE"`
		}
		if raw[0] != '{' || json.Unmarshal(raw, &entry) != nil {
			said = append(said, cleanLine(string(raw)))
			continue
		}
		msg, ok := journalMessage(entry.Message)
		if !ok {
			continue
		}
		for _, line := range strings.Split(msg, "\n") {
			line = cleanLine(line)
			if strings.TrimSpace(line) == "" {
				continue
			}
			t.Lines = append(t.Lines, line)
			if entry.PID != "1" {
				t.Reason = strings.TrimSpace(line)
			}
		}
	}
	if len(t.Lines) > TailLines {
		t.Lines = t.Lines[len(t.Lines)-TailLines:]
	}
	if t.Reason == "" && len(t.Lines) > 0 {
		t.Reason = strings.TrimSpace(t.Lines[len(t.Lines)-1])
	}
	if len(t.Lines) == 0 && len(said) > 0 {
		t.Err = strings.Join(said, "; ")
		if len(t.Err) > TailLineMax {
			t.Err = cleanLine(t.Err)
		}
	}
	return t
}

// journalMessage decodes a journal MESSAGE field: a string, or an array of
// bytes when it is not valid UTF-8; null (too large) gives false.
func journalMessage(raw json.RawMessage) (string, bool) {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s, true
	}
	var b []byte
	var ints []int
	if json.Unmarshal(raw, &ints) == nil && len(ints) > 0 {
		for _, n := range ints {
			b = append(b, byte(n))
		}
		return string(b), true
	}
	return "", false
}
