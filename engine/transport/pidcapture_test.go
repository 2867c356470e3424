package transport

import (
	"bytes"
	"io"
	"runtime"
	"strings"
	"testing"
)

func TestPIDCapture(t *testing.T) {
	tests := []struct {
		name    string
		writes  []string
		wantPID int
		wantOut string
	}{
		{"report then output", []string{"omni-transport-pid:4211\nwarning\n"}, 4211, "warning\n"},
		{"report split across writes", []string{"omni-tr", "ansport-pid:42", "11\nwar", "ning\n"}, 4211, "warning\n"},
		{"report only", []string{"omni-transport-pid:7\n"}, 7, ""},
		{"no report", []string{"sh: 1: bad command\n"}, 0, "sh: 1: bad command\n"},
		{"no report, short and unfinished", []string{"om"}, 0, "om"},
		// The login shell's start-up files print before sh starts and
		// reports its PID (found by review: the report was lost, and with
		// it the kill of the command's group).
		{"a login shell's lines before the report", []string{"stty: 'standard input': Inappropriate ioctl\nwelcome\n", "omni-transport-pid:31\nerr\n"}, 31, "stty: 'standard input': Inappropriate ioctl\nwelcome\nerr\n"},
		{"a login shell's line split before the report", []string{"stty: not a t", "ty\nomni-transport-pid:3", "2\n"}, 32, "stty: not a tty\n"},
		{"later lines that look like a report are output",
			[]string{"omni-transport-pid:9\nomni-transport-pid:10\n"}, 9, "omni-transport-pid:10\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			p := newPIDCapture(&out)
			for _, w := range tt.writes {
				if n, err := p.Write([]byte(w)); n != len(w) || err != nil {
					t.Fatalf("Write(%q) = %d, %v", w, n, err)
				}
			}
			p.flush()
			if p.pid != tt.wantPID || out.String() != tt.wantOut {
				t.Errorf("pid %d, output %q; want %d, %q", p.pid, out.String(), tt.wantPID, tt.wantOut)
			}
		})
	}
}

// chunkReader returns its chunks one Read at a time, as a session's
// stderr does with its packets.
type chunkReader struct{ chunks []string }

func (r *chunkReader) Read(b []byte) (int, error) {
	if len(r.chunks) == 0 {
		return 0, io.EOF
	}
	n := copy(b, r.chunks[0])
	if r.chunks[0] = r.chunks[0][n:]; r.chunks[0] == "" {
		r.chunks = r.chunks[1:]
	}
	return n, nil
}

// TestPIDCaptureReadFrom: io.Copy (as x/crypto/ssh copies a session's
// stderr) goes through ReadFrom, which takes the report off as Write does
// and does not allocate io.Copy's 32 KiB buffer per command.
func TestPIDCaptureReadFrom(t *testing.T) {
	long := strings.Repeat("x", 10<<10)
	var out bytes.Buffer
	p := newPIDCapture(&out)
	n, err := io.Copy(p, &chunkReader{chunks: []string{"omni-transport-pid:", "42\nwarn", "ing\n", long}})
	p.flush()
	if err != nil || n != int64(len("omni-transport-pid:42\nwarning\n")+len(long)) {
		t.Fatalf("io.Copy = %d, %v", n, err)
	}
	if p.pid != 42 || out.String() != "warning\n"+long {
		t.Errorf("pid %d, output %q...; want 42, %q...", p.pid, out.String()[:20], "warning\n")
	}
	allocated := testing.AllocsPerRun(20, func() {
		q := newPIDCapture(io.Discard)
		_, _ = io.Copy(q, &chunkReader{chunks: []string{"omni-transport-pid:42\n", "warning\n"}})
	})
	var stats runtime.MemStats
	runtime.ReadMemStats(&stats)
	before := stats.TotalAlloc
	for range 100 {
		q := newPIDCapture(io.Discard)
		_, _ = io.Copy(q, &chunkReader{chunks: []string{"omni-transport-pid:42\n", "warning\n"}})
	}
	runtime.ReadMemStats(&stats)
	if perCopy := (stats.TotalAlloc - before) / 100; perCopy > 4<<10 {
		t.Errorf("copying a command's stderr allocates %d bytes (%.0f allocations), want at most 4 KiB", perCopy, allocated)
	}
}
