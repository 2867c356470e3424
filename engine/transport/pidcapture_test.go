package transport

import (
	"bytes"
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
