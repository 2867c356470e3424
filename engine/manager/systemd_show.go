package manager

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// unitInfo is the parsed output of `systemctl show -p showProperties`.
type unitInfo struct {
	LoadState     string // "loaded", "not-found", "masked", ...; empty from old fixtures
	ActiveState   string
	SubState      string
	MainPID       int
	ActiveEnter   time.Time
	InactiveEnter time.Time
	NRestarts     int
	Type          string // "simple", "oneshot", ...; empty from old fixtures
	Result        string // how the unit last ended: "success", "timeout", "signal", ...
	// ActiveEnterMono, InactiveEnterMono: the same moments on the host's
	// monotonic clock (µs since boot; 0: never), and HostUptime its uptime
	// when it was read (hostClockLine; 0: not read). With them the times
	// need neither the host's zone nor its clock to agree with omni's.
	ActiveEnterMono, InactiveEnterMono int64
	HostUptime                         time.Duration
	// ExecStopFailed: the result of the unit's first stop command that
	// failed in its last stop: "status=1" (empty: they succeeded,
	// failures are ignored, or it has none).
	ExecStopFailed string
}

// parseShow reads systemctl's KEY=VALUE lines. Unknown keys are ignored
// (systemctl prints the properties in its own order, not ours); an empty
// MainPID or NRestarts (old systemd has no NRestarts) reads as 0.
func parseShow(out []byte) (unitInfo, error) {
	var info unitInfo
	seen := false
	for key, value := range keyValues(out) {
		var err error
		switch key {
		case "LoadState":
			info.LoadState = strings.ToLower(value)
		case "ActiveState":
			if seen {
				// One unit's block only: more is a name systemctl
				// matched against several units (the inventory refuses
				// patterns; this is the reader's own guard).
				return unitInfo{}, errors.New("systemctl show printed more than one unit")
			}
			info.ActiveState, seen = strings.ToLower(value), true
		case "SubState":
			info.SubState = value
		case "MainPID":
			info.MainPID, err = parseCount(value)
		case "NRestarts":
			info.NRestarts, err = parseCount(value)
		case "Type":
			info.Type = value
		case "Result":
			info.Result = value
		case "ActiveEnterTimestampMonotonic":
			info.ActiveEnterMono, err = parseMicros(value)
		case "InactiveEnterTimestampMonotonic":
			info.InactiveEnterMono, err = parseMicros(value)
		case hostUptimeKey:
			info.HostUptime, err = parseUptime(value)
		case "ExecStop":
			// One ExecStop= line per stop command, in order: systemd
			// runs none after one that failed (the later ones read
			// code=(null)), so the first failure found is the stop's.
			if info.ExecStopFailed == "" {
				info.ExecStopFailed = execFailed(value)
			}
		case "ActiveEnterTimestamp":
			info.ActiveEnter, err = parseSystemdTime(value)
		case "InactiveEnterTimestamp":
			info.InactiveEnter, err = parseSystemdTime(value)
		}
		if err != nil {
			return unitInfo{}, fmt.Errorf("%s: %w", key, err)
		}
	}
	if !seen || info.ActiveState == "" {
		return unitInfo{}, errors.New("no ActiveState in output")
	}
	if info.LoadState == "not-found" {
		return unitInfo{}, errors.New(notInstalled)
	}
	return info, nil
}

// notInstalled is what omni says of a unit systemd does not know.
const notInstalled = "unit is not installed on this host (LoadState=not-found): check the service's unit in the inventory"

// hostUptimeKey is the line hostClockLine prints before systemctl show.
const hostUptimeKey = "OmniHostUptime"

// hostClockLine prints the host's uptime (/proc/uptime, read with the
// shell's own read: no process) as a KEY=VALUE line and an empty line,
// before the systemctl show it is put in front of: the monotonic
// timestamps are then uptimes (see unitInfo.state). Where /proc/uptime
// cannot be read it prints nothing.
const hostClockLine = `read -r omni_up omni_x </proc/uptime 2>/dev/null && printf '` + hostUptimeKey + `=%s\n\n' "$omni_up"; `

// cutHostClock takes hostClockLine's line off out: the line (nil when
// there is none) and the rest.
func cutHostClock(out []byte) (line, rest []byte) {
	if !bytes.HasPrefix(out, []byte(hostUptimeKey+"=")) {
		return nil, out
	}
	line, rest, _ = bytes.Cut(out, []byte("\n"))
	return line, bytes.TrimLeft(rest, "\n")
}

// parseMicros reads a monotonic timestamp: µs, 0 for never.
func parseMicros(s string) (int64, error) {
	if s == "" || s == "n/a" {
		return 0, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("not a timestamp: %q", s)
	}
	return n, nil
}

// parseUptime reads /proc/uptime's first field, "12345.67" (seconds).
func parseUptime(s string) (time.Duration, error) {
	secs, err := strconv.ParseFloat(s, 64)
	if err != nil || secs < 0 {
		return 0, fmt.Errorf("not an uptime: %q", s)
	}
	return time.Duration(secs * float64(time.Second)), nil
}

// execFailed reads an Exec*= property, "{ path=… ; argv[]=… ;
// ignore_errors=no ; … ; code=exited ; status=1 }" (one such block per
// command): "status=1" (or "signal=KILL") for the first command that
// failed and whose failure counts, "" when none did.
func execFailed(v string) string {
	for _, cmd := range strings.Split(v, "}") {
		fields := map[string]string{}
		for _, f := range strings.Split(cmd, " ; ") {
			k, val, _ := strings.Cut(strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(f), "{")), "=")
			fields[k] = val
		}
		if fields["ignore_errors"] == "yes" {
			continue
		}
		switch fields["code"] {
		case "exited":
			if st := fields["status"]; st != "" && st != "0" {
				return "status=" + st
			}
		case "killed", "dumped":
			return "signal=" + fields["status"]
		}
	}
	return ""
}

func parseCount(s string) (int, error) {
	if s == "" || s == "n/a" {
		return 0, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("not a count: %q", s)
	}
	return n, nil
}

// state maps systemd's view to ours. Only active and reloading count as
// running: activating (including auto-restart between crashes) is not
// running yet, deactivating no longer.
func (u unitInfo) state() State {
	st := State{
		PID:        u.MainPID,
		LastActive: u.InactiveEnter,
		NRestarts:  u.NRestarts,
	}
	switch u.ActiveState {
	case "active":
		st.Running, st.Status = true, "running"
	case "reloading":
		st.Running, st.Status = true, "reloading"
	case "inactive":
		st.Status = "stopped"
		st.Finished = u.Type == "oneshot" && u.Result == "success"
	default: // failed, activating, deactivating, maintenance, ...
		st.Status = u.ActiveState
	}
	if st.Running {
		st.Since = u.ActiveEnter
	}
	// A wall timestamp whose zone abbreviation cannot be placed ("CST" is
	// China, US Central or Cuba) reads as zero: then, where the host's
	// uptime was read, the time is now less how long ago it was on the
	// host's monotonic clock. (The wall time is kept where it can be read:
	// it is the host's clock, as the file times config diff compares it
	// with.)
	if u.HostUptime > 0 {
		now := time.Now()
		ago := func(mono int64) (time.Time, bool) {
			at := time.Duration(mono) * time.Microsecond
			if mono <= 0 || at > u.HostUptime {
				return time.Time{}, false
			}
			return now.Add(at - u.HostUptime), true
		}
		if t, ok := ago(u.ActiveEnterMono); ok && st.Running && st.Since.IsZero() {
			st.Since = t
		}
		if t, ok := ago(u.InactiveEnterMono); ok && st.LastActive.IsZero() {
			st.LastActive = t
		}
	}
	return st
}

// parseSystemdTime parses systemd's default timestamp style,
// "Tue 2025-03-18 15:45:27 UTC" (the weekday may be absent and seconds may
// carry a fraction). Empty and "n/a" mean never and give the zero time.
//
// The zone is an abbreviation from the host's time zone, which Go alone
// cannot resolve. It is taken as: UTC/GMT; a numeric "+04"/"+0530" (how
// tzdata names many zones); a fixed table of common unambiguous
// abbreviations (zoneOffsets); or this machine's own zone when it uses the
// same abbreviation. Any other abbreviation (CST and IST mean several
// zones) gives the zero time, "unknown", rather than a time that may be
// hours off.
func parseSystemdTime(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" || s == "n/a" {
		return time.Time{}, nil
	}
	fields := strings.Fields(s)
	if len(fields) == 4 {
		fields = fields[1:] // weekday
	}
	if len(fields) != 3 {
		return time.Time{}, fmt.Errorf("unrecognised timestamp %q", s)
	}
	wall := fields[0] + " " + fields[1]
	const layout = "2006-01-02 15:04:05" // a fraction after the seconds is accepted too
	if _, err := time.Parse(layout, wall); err != nil {
		return time.Time{}, fmt.Errorf("unrecognised timestamp %q", s)
	}
	loc := zoneLocation(fields[2])
	if loc == nil {
		return time.Time{}, nil
	}
	return time.ParseInLocation(layout, wall, loc)
}

// zoneLocation resolves a zone abbreviation as parseSystemdTime documents,
// or returns nil.
func zoneLocation(abbr string) *time.Location {
	switch abbr {
	case "UTC", "GMT", "UCT", "Z":
		return time.UTC
	}
	if off, ok := numericZone(abbr); ok {
		return time.FixedZone(abbr, off)
	}
	if off, ok := zoneOffsets[abbr]; ok {
		return time.FixedZone(abbr, off)
	}
	// Go resolves an abbreviation against the local zone: the result is in
	// time.Local only when the local zone really uses it.
	if t, err := time.ParseInLocation("MST", abbr, time.Local); err == nil && t.Location() == time.Local {
		name, _ := t.Zone()
		if name == abbr {
			return time.Local
		}
	}
	return nil
}

// numericZone parses "+04", "-03", "+0530", "+05:30".
func numericZone(s string) (int, bool) {
	if len(s) < 3 || (s[0] != '+' && s[0] != '-') {
		return 0, false
	}
	digits := strings.ReplaceAll(s[1:], ":", "")
	if len(digits) != 2 && len(digits) != 4 {
		return 0, false
	}
	for _, c := range digits {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	h, _ := strconv.Atoi(digits[:2])
	m := 0
	if len(digits) == 4 {
		m, _ = strconv.Atoi(digits[2:])
	}
	off := h*3600 + m*60
	if s[0] == '-' {
		off = -off
	}
	return off, true
}

// zoneOffsets are common zone abbreviations of tzdata with one meaning
// (CST and IST, each used by several zones, are left
// out on purpose).
var zoneOffsets = map[string]int{
	"WET": 0, "WEST": 1 * 3600, "BST": 1 * 3600,
	"CET": 1 * 3600, "CEST": 2 * 3600, "MET": 1 * 3600, "MEST": 2 * 3600,
	"EET": 2 * 3600, "EEST": 3 * 3600, "MSK": 3 * 3600, "SAST": 2 * 3600,
	"EST": -5 * 3600, "EDT": -4 * 3600, "CDT": -5 * 3600,
	"MST": -7 * 3600, "MDT": -6 * 3600, "PST": -8 * 3600, "PDT": -7 * 3600,
	"AKST": -9 * 3600, "AKDT": -8 * 3600, "HST": -10 * 3600,
	"NST": -(3*3600 + 1800), "NDT": -(2*3600 + 1800),
	"JST": 9 * 3600, "KST": 9 * 3600, "HKT": 8 * 3600, "PKT": 5 * 3600, "WIB": 7 * 3600,
	"AWST": 8 * 3600, "ACST": 9*3600 + 1800, "ACDT": 10*3600 + 1800,
	"AEST": 10 * 3600, "AEDT": 11 * 3600, "NZST": 12 * 3600, "NZDT": 13 * 3600,
}
