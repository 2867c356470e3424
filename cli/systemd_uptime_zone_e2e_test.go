package cli

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestSystemdUptimeOnAHostInChinaStandardTime (found by review): a host whose clock
// is set to Asia/Shanghai (as every host in mainland China is) prints
// systemd's timestamps with the abbreviation "CST", which omni's
// parseSystemdTime cannot resolve (CST is also US Central) and turns into
// the zero time, "unknown". omni then shows the unit's uptime as
// "0m 0s" (uptime_seconds: 0 in -o json) for a unit that has been up for
// seconds (or for months): `service status` says it has just (re)started.
//
// An operator expects the unit's real uptime (systemd has it without a
// zone: ActiveEnterTimestampMonotonic, or `systemctl show
// --timestamp=unix`), or at least no uptime ("-", no uptime_seconds),
// never a false 0.
func TestSystemdUptimeOnAHostInChinaStandardTime(t *testing.T) {
	const a = "127.0.84.11"
	h, f := bootSystemdHost(t, "omni-rv-uptime-sd", a, map[string]string{
		"plain.service": "[Unit]\nDescription=plain\n\n[Service]\nExecStart=/bin/sleep 1000\n",
	}, nil,
		"  sd1: {address: "+a+", port: 22, user: root, sudo: false, roles: [worker], service_address: "+a+"}\n",
		"  plain: {}\n")
	h.Run(t, "ln -sf /usr/share/zoneinfo/Asia/Shanghai /etc/localtime")
	if out, errOut, code := f.omni(t, "service", "start", "sd1", "plain"); code != 0 {
		t.Fatalf("start: exit %d\n%s%s", code, out, errOut)
	}
	time.Sleep(4 * time.Second)
	enter := show(t, h, "plain.service", "ActiveEnterTimestamp")["ActiveEnterTimestamp"]
	if !strings.HasSuffix(enter, " CST") {
		t.Fatalf("the host does not print CST timestamps: ActiveEnterTimestamp=%s", enter)
	}

	out, errOut, code := f.omni(t, "service", "status", "sd1", "plain", "-o", "json")
	var doc struct {
		Services []struct {
			State         string
			UptimeSeconds *int64 `json:"uptime_seconds"`
		}
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil || code != 0 || len(doc.Services) != 1 || doc.Services[0].State != "running" {
		t.Fatalf("status -o json: exit %d, %v\n%s%s", code, err, out, errOut)
	}
	if up := doc.Services[0].UptimeSeconds; up != nil && (*up < 4 || *up > 60) {
		t.Errorf("unit up for 4 s or more (ActiveEnterTimestamp=%s): status -o json says uptime_seconds %d, want the real uptime or none\n%s", enter, *up, out)
	}

	out, errOut, _ = f.omni(t, "service", "status", "sd1", "plain")
	if regexp.MustCompile(`(?m)^sd1 +plain +Running +\d+ +0m [0-3]s `).MatchString(out) {
		t.Errorf("unit up for 4 s or more (ActiveEnterTimestamp=%s): the status table says it has been up under 4 s:\n%s%s", enter, out, errOut)
	}
}
