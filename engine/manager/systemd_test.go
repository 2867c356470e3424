package manager

import (
	"github.com/omni-fleet/omni/internal/shell"
	"strings"

	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/omni-fleet/omni/inventory"
)

const wantShow = hostClockLine + "systemctl show -p LoadState,ActiveState,SubState,MainPID,ActiveEnterTimestamp,InactiveEnterTimestamp,NRestarts,Type,Result,ActiveEnterTimestampMonotonic,InactiveEnterTimestampMonotonic,ExecStop --no-pager -- 'omni-x.service'"

func readTestdata(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestSystemdCommands(t *testing.T) {
	host := &inventory.Host{Name: "worker1", ServiceAddress: "127.0.0.1"}
	sudoHost := &inventory.Host{Name: "worker1", ServiceAddress: "127.0.0.1", Sudo: true}
	svc := &inventory.Service{Name: "x", Manager: "systemd", Unit: "omni-x.service"}
	sudoSvc := &inventory.Service{Name: "x", Manager: "systemd", Unit: "omni-x.service", Sudo: true}
	defaultUnit := &inventory.Service{Name: "api-gateway"} // manager and unit left to defaults
	oddUnit := &inventory.Service{Name: "x", Manager: "systemd", Unit: "odd unit'$(reboot)`id`.service"}
	active := Result{Stdout: readTestdata(t, "systemd/active.txt")}
	stopped := Result{Stdout: readTestdata(t, "systemd/stopped.txt")}

	tests := []struct {
		name    string
		host    *inventory.Host
		svc     *inventory.Service
		results []Result
		op      func(Manager, Runner) error
		want    []string
	}{
		{
			name: "status", host: host, svc: svc, results: []Result{active},
			op:   status,
			want: []string{wantShow},
		},
		{
			name: "start", host: host, svc: svc,
			op:   start,
			want: []string{"sh -c " + shell.Quote(startScript(t, "omni-x.service"))},
		},
		{
			name: "stop then verify", host: host, svc: svc, results: []Result{{}, stopped},
			op:   stop(30 * time.Second),
			want: []string{"sh -c " + shell.Quote(string(readTestdata(t, "systemd/stop-30s.golden"))), wantShow},
		},
		{
			name: "default unit", host: host, svc: defaultUnit,
			op:   start,
			want: []string{"sh -c " + shell.Quote(startScript(t, "api-gateway.service"))},
		},
		{
			name: "odd unit name is one quoted word", host: host, svc: oddUnit,
			op:   start,
			want: []string{"sh -c " + shell.Quote(startScript(t, "odd unit'$(reboot)`id`.service"))},
		},
		{
			name: "host sudo", host: sudoHost, svc: svc,
			op:   start,
			want: []string{"sudo -n sh -c " + shell.Quote(startScript(t, "omni-x.service"))},
		},
		{
			name: "service sudo", host: host, svc: sudoSvc, results: []Result{active},
			op: status,
			want: []string{
				"sudo -n sh -c " + shell.Quote(wantShow),
			},
		},
		{
			name: "sudo stop", host: sudoHost, svc: svc, results: []Result{{}, stopped},
			op: stop(time.Second),
			want: []string{
				"sudo -n sh -c " + shell.Quote(string(readTestdata(t, "systemd/stop-1s.golden"))),
				"sudo -n sh -c " + shell.Quote(wantShow),
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &fakeRunner{results: tt.results}
			if err := tt.op(newManager(t, tt.host, tt.svc), r); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(r.cmds, tt.want) {
				t.Errorf("commands:\n got %q\nwant %q", r.cmds, tt.want)
			}
		})
	}
}

// startScript is the start script of testdata/systemd/start.golden
// (written for omni-x.service) for unit, quoted once in its first line.
func startScript(t *testing.T, unit string) string {
	script := string(readTestdata(t, "systemd/start.golden"))
	first, rest, _ := strings.Cut(script, "\n")
	if first != "omni_unit='omni-x.service'" {
		t.Fatalf("start.golden begins with %q", first)
	}
	return "omni_unit=" + shell.Quote(unit) + "\n" + rest
}

func status(m Manager, r Runner) error {
	_, err := m.Status(context.Background(), r)
	return err
}

func start(m Manager, r Runner) error { return m.Start(context.Background(), r) }

func stop(grace time.Duration) func(Manager, Runner) error {
	return func(m Manager, r Runner) error { return m.Stop(context.Background(), r, grace) }
}

// logsWant is the start of the logs command: the unit's Id and load
// state first (the journal does not know its aliases; a unit that is not
// installed fails), then journalctl on it.
const logsWant = `omni_s=$(systemctl show -p Id,LoadState -- 'omni-x.service' 2>/dev/null); ` +
	`case $omni_s in *LoadState=not-found*) echo 'omni-x.service: unit is not installed on this host (LoadState=not-found): check the service'\''s unit in the inventory' >&2; exit 1 ;; esac; ` +
	`omni_id=; for omni_l in $omni_s; do case $omni_l in Id=?*) omni_id=${omni_l#Id=} ;; esac; done; ` +
	`[ -n "$omni_id" ] || omni_id='omni-x.service'; exec journalctl -u "$omni_id"`

func TestSystemdLogsCommand(t *testing.T) {
	host := &inventory.Host{Name: "worker1"}
	svc := &inventory.Service{Name: "x", Manager: "systemd", Unit: "omni-x.service"}
	tests := []struct {
		lines  int
		follow bool
		sudo   bool
		want   string
	}{
		{100, false, false, logsWant + " -n 100 --no-pager -o short-iso"},
		{20, true, false, logsWant + " -n 20 --no-pager -o short-iso -f"},
		{0, false, false, logsWant + " -n all --no-pager -o short-iso"},
		{50, true, true, "sudo -n sh -c " + shell.Quote(logsWant+" -n 50 --no-pager -o short-iso -f")},
	}
	for _, tt := range tests {
		h := *host
		h.Sudo = tt.sudo
		if got := newManager(t, &h, svc).LogsCommand(tt.lines, tt.follow); got != tt.want {
			t.Errorf("LogsCommand(%d, %v) sudo=%v:\n got %s\nwant %s", tt.lines, tt.follow, tt.sudo, got, tt.want)
		}
	}
}

func TestParseShow(t *testing.T) {
	utc := func(s string) time.Time {
		tm, err := time.Parse(time.DateTime, s)
		if err != nil {
			t.Fatal(err)
		}
		return tm
	}
	in := func(s string, offset int) time.Time {
		tm, err := time.ParseInLocation(time.DateTime, s, time.FixedZone("", offset))
		if err != nil {
			t.Fatal(err)
		}
		return tm
	}
	tests := []struct {
		file      string
		wantInfo  unitInfo
		wantState State
	}{
		{
			file:      "active.txt",
			wantInfo:  unitInfo{ActiveState: "active", SubState: "running", MainPID: 4211, ActiveEnter: utc("2025-03-18 15:45:27")},
			wantState: State{Running: true, Status: "running", PID: 4211, Since: utc("2025-03-18 15:45:27")},
		},
		{
			file:      "never-started.txt",
			wantInfo:  unitInfo{ActiveState: "inactive", SubState: "dead"},
			wantState: State{Status: "stopped"},
		},
		{
			file: "failed.txt",
			wantInfo: unitInfo{ActiveState: "failed", SubState: "failed", NRestarts: 5,
				ActiveEnter: utc("2025-03-18 15:45:27"), InactiveEnter: utc("2025-03-18 15:51:03")},
			wantState: State{Status: "failed", NRestarts: 5, LastActive: utc("2025-03-18 15:51:03")},
		},
		{
			file: "auto-restart.txt",
			wantInfo: unitInfo{ActiveState: "activating", SubState: "auto-restart", NRestarts: 2,
				ActiveEnter: in("2025-01-08 09:12:44", 3600), InactiveEnter: in("2025-01-08 09:14:02", 3600)},
			wantState: State{Status: "activating", NRestarts: 2, LastActive: in("2025-01-08 09:14:02", 3600)},
		},
		{
			file: "stopped.txt",
			wantInfo: unitInfo{ActiveState: "inactive", SubState: "dead",
				ActiveEnter: in("2025-06-02 08:00:03", 7200), InactiveEnter: in("2025-06-02 17:30:41", 7200)},
			wantState: State{Status: "stopped", LastActive: in("2025-06-02 17:30:41", 7200)},
		},
		{
			file:      "active-numeric-zone.txt",
			wantInfo:  unitInfo{ActiveState: "active", SubState: "running", MainPID: 977, ActiveEnter: in("2025-02-27 04:31:09", 4*3600)},
			wantState: State{Running: true, Status: "running", PID: 977, Since: in("2025-02-27 04:31:09", 4*3600)},
		},
		{
			file:      "deactivating.txt",
			wantInfo:  unitInfo{ActiveState: "deactivating", SubState: "stop-sigterm", MainPID: 4211, ActiveEnter: utc("2025-03-18 15:45:27")},
			wantState: State{Status: "deactivating", PID: 4211},
		},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			info, err := parseShow(readTestdata(t, "systemd/"+tt.file))
			if err != nil {
				t.Fatal(err)
			}
			tt.wantInfo.LoadState = "loaded"
			if !sameUnitInfo(info, tt.wantInfo) {
				t.Errorf("parseShow:\n got %+v\nwant %+v", info, tt.wantInfo)
			}
			if st := info.state(); !sameState(st, tt.wantState) {
				t.Errorf("state:\n got %+v\nwant %+v", st, tt.wantState)
			}
		})
	}
}

// TestMissingUnitIsAnError: a typo in `unit:` or a host without the unit
// must not read as "stopped" (stop would then say "already stopped").
func TestMissingUnitIsAnError(t *testing.T) {
	_, err := parseShow(readTestdata(t, "systemd/not-found.txt"))
	if err == nil || !strings.Contains(err.Error(), "LoadState=not-found") {
		t.Fatalf("err = %v", err)
	}
}

// sameUnitInfo compares times as instants (their zones differ in name).
func sameUnitInfo(a, b unitInfo) bool {
	if !a.ActiveEnter.Equal(b.ActiveEnter) || !a.InactiveEnter.Equal(b.InactiveEnter) {
		return false
	}
	a.ActiveEnter, a.InactiveEnter, b.ActiveEnter, b.InactiveEnter = time.Time{}, time.Time{}, time.Time{}, time.Time{}
	return a == b
}

func sameState(a, b State) bool {
	if !a.Since.Equal(b.Since) || !a.LastActive.Equal(b.LastActive) {
		return false
	}
	a.Since, a.LastActive, b.Since, b.LastActive = time.Time{}, time.Time{}, time.Time{}, time.Time{}
	return a == b
}

func TestParseShowErrors(t *testing.T) {
	for _, out := range []string{
		"",
		"Failed to get properties: Access denied\n",
		"MainPID=12\nNRestarts=0\n",
		"ActiveState=active\nMainPID=abc\n",
		"ActiveState=active\nActiveEnterTimestamp=yesterday\n",
	} {
		if info, err := parseShow([]byte(out)); err == nil {
			t.Errorf("parseShow(%q) = %+v, want an error", out, info)
		}
	}
}

func TestStateMapping(t *testing.T) {
	for _, tt := range []struct {
		active  string
		running bool
		status  string
	}{
		{"active", true, "running"},
		{"reloading", true, "reloading"},
		{"inactive", false, "stopped"},
		{"failed", false, "failed"},
		{"activating", false, "activating"},
		{"deactivating", false, "deactivating"},
		{"maintenance", false, "maintenance"},
	} {
		st := unitInfo{ActiveState: tt.active}.state()
		if st.Running != tt.running || st.Status != tt.status {
			t.Errorf("ActiveState=%s: Running=%v Status=%q, want %v %q", tt.active, st.Running, st.Status, tt.running, tt.status)
		}
	}
}

func TestParseSystemdTime(t *testing.T) {
	tests := []struct {
		in     string
		want   string // RFC 3339, "" for the zero time
		offset int    // seconds east of UTC
	}{
		{"", "", 0},
		{"n/a", "", 0},
		{"Tue 2025-03-18 15:45:27 UTC", "2025-03-18T15:45:27Z", 0},
		{"2025-03-18 15:45:27 UTC", "2025-03-18T15:45:27Z", 0},
		{"Tue 2025-03-18 15:45:27.123456 UTC", "2025-03-18T15:45:27.123456Z", 0},
		{"Sun 2025-03-30 03:10:00 CEST", "2025-03-30T03:10:00+02:00", 7200},
		{"Fri 2025-11-07 23:59:59 PST", "2025-11-07T23:59:59-08:00", -8 * 3600},
		{"Thu 2025-02-27 04:31:09 +04", "2025-02-27T04:31:09+04:00", 4 * 3600},
		{"Thu 2025-02-27 04:31:09 +0530", "2025-02-27T04:31:09+05:30", 5*3600 + 1800},
		{"Thu 2025-02-27 04:31:09 -03", "2025-02-27T04:31:09-03:00", -3 * 3600},
		{"Thu 2025-02-27 04:31:09 XYZT", "", 0}, // unknown zone: unknown time, not a wrong one
	}
	for _, tt := range tests {
		got, err := parseSystemdTime(tt.in)
		if err != nil {
			t.Errorf("parseSystemdTime(%q): %v", tt.in, err)
			continue
		}
		if tt.want == "" {
			if !got.IsZero() {
				t.Errorf("parseSystemdTime(%q) = %v, want the zero time", tt.in, got)
			}
			continue
		}
		want, _ := time.Parse(time.RFC3339Nano, tt.want)
		if _, off := got.Zone(); !got.Equal(want) || off != tt.offset {
			t.Errorf("parseSystemdTime(%q) = %v (offset %d), want %v", tt.in, got, off, want)
		}
	}
	for _, bad := range []string{"yesterday", "Tue 2025-13-18 15:45:27 UTC", "Tue 2025-03-18 UTC"} {
		if got, err := parseSystemdTime(bad); err == nil {
			t.Errorf("parseSystemdTime(%q) = %v, want an error", bad, got)
		}
	}
}

func TestSystemdErrors(t *testing.T) {
	host := &inventory.Host{Name: "worker1"}
	svc := &inventory.Service{Name: "x", Manager: "systemd", Unit: "omni-x.service"}
	jobFailed := Result{ExitCode: 1, Stderr: []byte("Job for omni-x.service failed because the control process exited with error code.\n" +
		"See \"systemctl status omni-x.service\" and \"journalctl -xeu omni-x.service\" for details.\n")}
	sudoRefused := Result{ExitCode: 1, Stderr: []byte("sudo: a password is required\n")}
	tests := []struct {
		name    string
		results []Result
		op      func(Manager, Runner) error
		want    string
		sudo    bool
	}{
		{
			name: "start job failed", results: []Result{jobFailed}, op: start,
			want: "systemctl start omni-x.service: exit 1: Job for omni-x.service failed because the control process exited with error code.\n" +
				"See \"systemctl status omni-x.service\" and \"journalctl -xeu omni-x.service\" for details.",
		},
		{
			name: "no bus", op: status,
			results: []Result{{ExitCode: 1, Stderr: []byte("System has not been booted with systemd as init system (PID 1). Can't operate.\nFailed to connect to bus: Host is down\n")}},
			want:    "status: systemctl show omni-x.service: exit 1: System has not been booted with systemd as init system (PID 1). Can't operate.\nFailed to connect to bus: Host is down",
		},
		{
			name: "unparseable show", op: status,
			results: []Result{{Stdout: []byte("hello\n")}},
			want:    "status: systemctl show omni-x.service: no ActiveState in output",
		},
		{
			name: "stop leaves it deactivating", op: stop(time.Second),
			results: []Result{{}, {Stdout: readTestdata(t, "systemd/deactivating.txt")}},
			want:    "omni-x.service is still deactivating (stop-sigterm, pid 4211) after systemctl stop",
		},
		{
			name: "stop refused", op: stop(time.Second),
			results: []Result{{ExitCode: 4, Stderr: []byte("Failed to stop omni-x.service: Access denied\n")}},
			want:    "systemctl stop omni-x.service: exit 4: Failed to stop omni-x.service: Access denied",
		},
		{
			name: "sudo refused", op: start, sudo: true,
			results: []Result{sudoRefused},
			want:    "systemctl start omni-x.service: " + ErrSudoRefused.Error(),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := *host
			h.Sudo = tt.sudo
			err := tt.op(newManager(t, &h, svc), &fakeRunner{results: tt.results})
			if err == nil || err.Error() != tt.want {
				t.Fatalf("error:\n got %v\nwant %s", err, tt.want)
			}
			if tt.sudo && !errors.Is(err, ErrSudoRefused) {
				t.Errorf("error does not wrap ErrSudoRefused")
			}
		})
	}
}

func TestNew(t *testing.T) {
	host := &inventory.Host{Name: "h"}
	tests := []struct {
		name    string
		target  Target
		wantErr string
	}{
		{"no host", Target{Service: &inventory.Service{Name: "x"}}, "manager: target needs a host and a service"},
		{"unknown manager", Target{Host: host, Service: &inventory.Service{Name: "x", Manager: "supervisord"}},
			`service "x": unknown manager "supervisord" (want "systemd" or "command")`},
		{"command without status", Target{Host: host, Service: &inventory.Service{Name: "x", Manager: "command",
			Commands: inventory.Commands{Start: "true"}}}, `service "x": manager "command" needs start and status commands`},
		{"command", Target{Host: host, Service: &inventory.Service{Name: "x", Manager: "command",
			Commands: inventory.Commands{Start: "true", Status: "true"}}}, ""},
		{"systemd", Target{Host: host, Service: &inventory.Service{Name: "x"}}, ""},
	}
	for _, tt := range tests {
		_, err := New(tt.target)
		if tt.wantErr == "" && err != nil {
			t.Errorf("%s: %v", tt.name, err)
		}
		if tt.wantErr != "" && (err == nil || err.Error() != tt.wantErr) {
			t.Errorf("%s: error %v, want %s", tt.name, err, tt.wantErr)
		}
	}
}

// TestParseShowOneUnit: the state of a service is one unit's: an output
// with two units' blocks (a name systemctl matched against several, such
// as tmpl@*.service) is an error, not the last block's state and PID.
func TestParseShowOneUnit(t *testing.T) {
	one := "LoadState=loaded\nActiveState=failed\nSubState=failed\nMainPID=0\n"
	two := one + "\nLoadState=loaded\nActiveState=active\nSubState=running\nMainPID=1780\n"
	if _, err := parseShow([]byte(one)); err != nil {
		t.Fatalf("one unit: %v", err)
	}
	if info, err := parseShow([]byte(two)); err == nil {
		t.Errorf("two units read as one: %+v", info)
	}
}
