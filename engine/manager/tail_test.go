package manager

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/omni-fleet/omni/internal/shell"
	"github.com/omni-fleet/omni/inventory"
)

// TestSystemdStartScriptGolden writes the start script for omni-x.service
// with -update, and otherwise checks it is the one in the golden file.
func TestSystemdStartScriptGolden(t *testing.T) {
	m := newManager(t, &inventory.Host{Name: "h"}, &inventory.Service{Name: "x", Unit: "omni-x.service"}).(*systemdManager)
	got := m.script(systemdStartScript)
	path := filepath.Join("testdata", "systemd", "start.golden")
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if want := string(readTestdata(t, "systemd/start.golden")); got != want {
		t.Errorf("start script:\n%s\nwant (go test -update rewrites it):\n%s", got, want)
	}
}

// A failed systemctl start carries the journal's tail: the unit's own line
// is the reason, systemd's lines (PID 1) are context; the error's text is
// systemctl's.
func TestSystemdStartFailureCarriesJournal(t *testing.T) {
	journal := `since=1700000000.123456
omni-journal-tail:
{"__CURSOR":"s=1","_PID":"412","MESSAGE":"nginx: [emerg] unknown directive \"bogus\" in /etc/x.conf:3"}
{"__CURSOR":"s=2","_PID":"1","MESSAGE":"omni-x.service: Control process exited, code=exited, status=1/FAILURE"}
{"__CURSOR":"s=3","_PID":"1","MESSAGE":"Failed to start omni-x.service - x."}
`
	r := &fakeRunner{results: []Result{
		{Stdout: []byte(journal), Stderr: []byte("Job for omni-x.service failed because the control process exited with error code.\n"), ExitCode: 1},
		{Stdout: []byte("omni-journal-tail:\n{\"_PID\":\"413\",\"MESSAGE\":\"later\"}\n")},
	}}
	m := newManager(t, &inventory.Host{Name: "h"}, &inventory.Service{Name: "x", Unit: "omni-x.service"})
	err := m.Start(context.Background(), r)
	var le *LogError
	if !errors.As(err, &le) {
		t.Fatalf("start: %v, want a *LogError", err)
	}
	if want := "systemctl start omni-x.service: exit 1: Job for omni-x.service failed because the control process exited with error code."; err.Error() != want {
		t.Errorf("error %q, want %q", err, want)
	}
	want := LogTail{Source: "journalctl -u omni-x.service since the start", Lines: []string{
		`nginx: [emerg] unknown directive "bogus" in /etc/x.conf:3`,
		"omni-x.service: Control process exited, code=exited, status=1/FAILURE",
		"Failed to start omni-x.service - x.",
	}, Reason: `nginx: [emerg] unknown directive "bogus" in /etc/x.conf:3`}
	if !reflect.DeepEqual(le.Tail, want) {
		t.Errorf("tail %+v\nwant %+v", le.Tail, want)
	}
	// A later LogTail reads from the start's time on, as the host's clock read it.
	tail := m.(Tailer).LogTail(context.Background(), r)
	if !strings.Contains(r.cmds[1], "1700000000.123456") || tail.Reason != "later" {
		t.Errorf("LogTail: %+v from\n%s", tail, r.cmds[1])
	}
}

func TestJournalTail(t *testing.T) {
	var many strings.Builder
	for i := range 25 {
		many.WriteString(`{"_PID":"1","MESSAGE":"systemd line ` + string(rune('a'+i)) + `"}` + "\n")
	}
	tests := []struct {
		name, out string
		want      LogTail
	}{
		{"no entries", "", LogTail{Source: "s"}},
		{"journalctl refused", "No journal files were opened due to insufficient permissions.\n",
			LogTail{Source: "s", Err: "No journal files were opened due to insufficient permissions."}},
		{"only systemd's lines: the last is the reason",
			`{"_PID":"1","MESSAGE":"x.service: Main process exited, code=exited, status=203/EXEC"}` + "\n",
			LogTail{Source: "s", Lines: []string{"x.service: Main process exited, code=exited, status=203/EXEC"},
				Reason: "x.service: Main process exited, code=exited, status=203/EXEC"}},
		{"bytes, escapes and null",
			`{"_PID":"7","MESSAGE":[104,105,255]}` + "\n" + `{"_PID":"7","MESSAGE":null}` + "\n" + `{"_PID":"7","MESSAGE":"\u001b[31mred\u001b[0m\tx"}` + "\n",
			LogTail{Source: "s", Lines: []string{"hi?", "?[31mred?[0m x"}, Reason: "?[31mred?[0m x"}},
		{"the service's line survives systemd's many",
			`{"_PID":"9","MESSAGE":"fatal: bad config"}` + "\n" + many.String(),
			LogTail{Source: "s", Lines: []string{"systemd line p", "systemd line q", "systemd line r", "systemd line s",
				"systemd line t", "systemd line u", "systemd line v", "systemd line w", "systemd line x", "systemd line y"},
				Reason: "fatal: bad config"}},
	}
	for _, tt := range tests {
		if got := journalTail("s", []byte(tt.out)); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s:\n got %+v\nwant %+v", tt.name, got, tt.want)
		}
	}
}

func TestCleanLineBounds(t *testing.T) {
	long := strings.Repeat("é", TailLineMax)
	got := cleanLine(long)
	if len(got) > TailLineMax+len("…") || !strings.HasSuffix(got, "…") || strings.ContainsRune(got, '\uFFFD') {
		t.Errorf("cleanLine of %d bytes: %d bytes %q", len(long), len(got), got[len(got)-8:])
	}
}

func TestCommandLogTail(t *testing.T) {
	var out strings.Builder
	for i := range 15 {
		out.WriteString("line " + string(rune('a'+i)) + "\n\n")
	}
	r := &fakeRunner{results: []Result{{Stdout: []byte(out.String())}}}
	m := newManager(t, &inventory.Host{Name: "worker1", ServiceAddress: "10.20.0.11"}, &inventory.Service{Name: "legacy-app", Manager: "command", Commands: legacyCommands})
	tail := m.(Tailer).LogTail(context.Background(), r)
	if len(tail.Lines) != TailLines || tail.Lines[0] != "line f" || tail.Reason != "line o" || tail.Err != "" {
		t.Errorf("tail %+v", tail)
	}
	if want := m.LogsCommand(TailLines, false); r.cmds[0] != want || !strings.Contains(want, "OMNI_LINES="+shell.Quote("10")) && !strings.Contains(want, "OMNI_LINES=10") {
		t.Errorf("command %q, want %q", r.cmds[0], want)
	}
	noLogs := legacyCommands
	noLogs.Logs = ""
	m = newManager(t, &inventory.Host{Name: "worker1"}, &inventory.Service{Name: "legacy-app", Manager: "command", Commands: noLogs})
	if tail := m.(Tailer).LogTail(context.Background(), &fakeRunner{}); tail.Err == "" {
		t.Errorf("no logs command: %+v", tail)
	}
}
