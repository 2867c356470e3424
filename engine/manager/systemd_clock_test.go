package manager

import (
	"strings"
	"testing"
	"time"
)

// TestSystemdTimesFromTheHostsMonotonicClock: with the host's uptime read
// beside systemctl show, a unit's start and stop times whose wall time
// cannot be placed ("CST" is China, US Central or Cuba) come from the
// monotonic timestamps; a wall time that can be placed is kept.
func TestSystemdTimesFromTheHostsMonotonicClock(t *testing.T) {
	out := []byte(hostUptimeKey + "=1000.50\n\n" +
		"LoadState=loaded\nActiveState=active\nSubState=running\nMainPID=42\n" +
		"ActiveEnterTimestamp=Sat 2026-12-05 09:00:00 CST\nActiveEnterTimestampMonotonic=900500000\n" +
		"InactiveEnterTimestamp=Sat 2026-12-05 08:59:59 CST\nInactiveEnterTimestampMonotonic=899000000\n")
	info, err := parseShow(out)
	if err != nil {
		t.Fatal(err)
	}
	st := info.state()
	if up := time.Since(st.Since); up < 99*time.Second || up > 102*time.Second {
		t.Errorf("uptime %s, want 100s (the host's uptime 1000.5 s less the start at 900.5 s)", up)
	}
	if ago := time.Since(st.LastActive); ago < 100*time.Second || ago > 103*time.Second {
		t.Errorf("last inactive %s ago, want 101.5s", ago)
	}
	// Without the host's uptime, an unplaceable zone gives no time at all,
	// never a made-up one.
	_, rest := cutHostClock(out)
	info, err = parseShow(rest)
	if err != nil {
		t.Fatal(err)
	}
	if st := info.state(); !st.Since.IsZero() {
		t.Errorf("without the host's uptime, CST: since %s, want unknown", st.Since)
	}
	utc := []byte(strings.ReplaceAll(string(out), " CST", " UTC"))
	info, err = parseShow(utc)
	if err != nil {
		t.Fatal(err)
	}
	if st, want := info.state(), time.Date(2026, 12, 5, 9, 0, 0, 0, time.UTC); !st.Since.Equal(want) {
		t.Errorf("a wall time in UTC: since %s, want %s (the host's clock, as it said)", st.Since, want)
	}
}

// TestExecFailed reads an ExecStop= property's last result.
func TestExecFailed(t *testing.T) {
	for v, want := range map[string]string{
		"": "",
		"{ path=/bin/sh ; argv[]=/bin/sh -c echo x ; ignore_errors=no ; start_time=[Sat 2026-12-05 01:00:00 UTC] ; stop_time=[Sat 2026-12-05 01:00:00 UTC] ; pid=12 ; code=exited ; status=0 }": "",
		"{ path=/bin/sh ; argv[]=/bin/sh -c exit 1 ; ignore_errors=no ; start_time=[n/a] ; stop_time=[n/a] ; pid=12 ; code=exited ; status=1 }":                                                 "status=1",
		"{ path=/bin/false ; argv[]=/bin/false ; ignore_errors=yes ; start_time=[n/a] ; stop_time=[n/a] ; pid=12 ; code=exited ; status=1 }":                                                    "",
		"{ path=/bin/sleep ; argv[]=/bin/sleep 100 ; ignore_errors=no ; start_time=[n/a] ; stop_time=[n/a] ; pid=12 ; code=killed ; status=9/KILL }":                                            "signal=9/KILL",
		"{ path=/bin/true ; argv[]=/bin/true ; ignore_errors=no ; start_time=[n/a] ; stop_time=[n/a] ; pid=0 ; code=(null) ; status=0/0 }":                                                      "",
	} {
		if got := execFailed(v); got != want {
			t.Errorf("execFailed(%q) = %q, want %q", v, got, want)
		}
	}
}

// TestParseShowFirstFailedExecStop (found by review): systemctl show
// prints one ExecStop= line per stop command; a second command, never run
// after the first failed (code=(null)), does not hide that failure.
func TestParseShowFirstFailedExecStop(t *testing.T) {
	out := "ActiveState=inactive\n" +
		"ExecStop={ path=/bin/sh ; argv[]=/bin/sh -c exit 1 ; ignore_errors=no ; start_time=[n/a] ; stop_time=[n/a] ; pid=12 ; code=exited ; status=1 }\n" +
		"ExecStop={ path=/bin/true ; argv[]=/bin/true ; ignore_errors=no ; start_time=[n/a] ; stop_time=[n/a] ; pid=0 ; code=(null) ; status=0/0 }\n"
	info, err := parseShow([]byte(out))
	if err != nil {
		t.Fatal(err)
	}
	if info.ExecStopFailed != "status=1" {
		t.Errorf("two ExecStop= lines, the first failed: ExecStopFailed = %q, want status=1", info.ExecStopFailed)
	}
}
