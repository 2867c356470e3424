package manager

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/omni-fleet/omni/inventory"
)

// TestSystemdStartable: a masked unit, one without a unit file and one
// that refuses manual starts cannot be restarted (an *UnstartableError
// saying why); any other answer, a failed read included, lets the restart
// go on. The restart script's stop part prints the same, exit 6.
func TestSystemdStartable(t *testing.T) {
	host := &inventory.Host{Name: "worker1", ServiceAddress: "127.0.0.1"}
	m := newManager(t, host, &inventory.Service{Name: "x", Manager: "systemd", Unit: "omni-x.service"})
	for _, c := range []struct{ out, why string }{
		{"", ""},
		{"LoadState=loaded\nCanStart=yes\n", ""},
		{unstartableMarker + "\nLoadState=masked\nCanStart=yes\n", "is masked"},
		{unstartableMarker + "\nLoadState=not-found\nCanStart=no\n", "has no unit file"},
		{unstartableMarker + "\nLoadState=loaded\nCanStart=no\n", "refuses manual starts"},
	} {
		f := &fakeRunner{results: []Result{{Stdout: []byte(c.out)}}}
		err := m.(StartChecker).Startable(context.Background(), f)
		var un *UnstartableError
		switch {
		case c.why == "" && err != nil:
			t.Errorf("%q: %v, want nil", c.out, err)
		case c.why != "" && (!errors.As(err, &un) || !strings.Contains(err.Error(), c.why)):
			t.Errorf("%q: %v, want an UnstartableError that %s", c.out, err, c.why)
		}
		if !strings.Contains(f.cmds[0], "systemctl show -p LoadState,CanStart --no-pager -- 'omni-x.service'") {
			t.Errorf("command: %s", f.cmds[0])
		}
		stop := m.(*systemdManager).unstartable(Result{Stdout: []byte(c.out), ExitCode: 6})
		if (stop == nil) != (c.why == "") {
			t.Errorf("%q in the restart script's stop part: %v", c.out, stop)
		}
	}
}

// TestSystemdStartWarning (found by review): a start that succeeded with
// its unit file changed on disk (NeedDaemonReload=yes) runs the old
// definition: said as a warning, once (systemctl's own words on it left
// out); any other warning systemctl printed is passed on.
func TestSystemdStartWarning(t *testing.T) {
	m := &systemdManager{unit: "app.service"}
	reload := "Warning: The unit file, source configuration file or drop-ins of app.service changed on disk. Run 'systemctl daemon-reload' to reload units.\n"
	for _, tt := range []struct {
		stdout, stderr, want string
	}{
		{"since=1700000000.000001\nneed_daemon_reload=no\n", "", ""},
		{"since=1700000000.000001\nneed_daemon_reload=yes\n", reload, staleUnit},
		{"since=1700000000.000001\nneed_daemon_reload=no\n", "Warning: something else\n", "systemctl said: Warning: something else"},
	} {
		err := m.startResult(Result{Stdout: []byte(tt.stdout), Stderr: []byte(tt.stderr)})
		var warned *StartWarning
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%q, %q: %v, want nil", tt.stdout, tt.stderr, err)
		case tt.want != "" && (!errors.As(err, &warned) || warned.Note != tt.want):
			t.Errorf("%q, %q: %v, want the warning %q", tt.stdout, tt.stderr, err, tt.want)
		}
	}
}

// TestSystemdEndStart (found by review): a start cut short is ended with
// systemctl stop, after its log tail is read since the start (the start
// script's since= when it said it, else the host's clock less how long
// ago it was sent), in one command; a stop that fails is said.
func TestSystemdEndStart(t *testing.T) {
	m := &systemdManager{unit: "slow.service", sudo: true}
	journal := `{"_PID":"1","MESSAGE":"Starting slow.service..."}` + "\n"
	r := &fakeRunner{results: []Result{{Stdout: []byte("since=1700000000.250000\n" + journalMarker + "\n" + journal)}}}
	note, tail := m.EndStart(context.Background(), r, 2500*time.Millisecond)
	if len(r.cmds) != 1 || !strings.HasPrefix(r.cmds[0], "sudo -n sh -c ") || !strings.Contains(r.cmds[0], `systemctl stop -- "$omni_unit"`) ||
		!strings.Contains(r.cmds[0], "omni_us - 2500000") {
		t.Fatalf("commands %q, want one under sudo: the tail since 2.5 s ago, then systemctl stop", r.cmds)
	}
	if note != "the start was stopped (systemctl stop)" || m.since != "1700000000.250000" || tail.Source != "journalctl -u slow.service since the start" || len(tail.Lines) != 1 {
		t.Errorf("EndStart: %q, since %q, tail %+v", note, m.since, tail)
	}
	r = &fakeRunner{results: []Result{{Stdout: []byte("since=1700000000.250000\n" + journalMarker + "\n"), Stderr: []byte("Failed to stop slow.service: Access denied\n"), ExitCode: 1}}}
	if note, _ := m.EndStart(context.Background(), r, time.Second); !strings.Contains(note, "stopping it failed") || !strings.Contains(note, "Access denied") {
		t.Errorf("a stop that failed: %q", note)
	}
}
