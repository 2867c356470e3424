package cli

import (
	"strings"
	"testing"
)

// TestSystemdFailedStartReasonFromALongJournalLine (found by review): a service
// that logs structured JSON writes its fatal error as one line of more
// than 4096 bytes (the error with its context: the configuration it
// read, a stack). omni reads the journal's tail with `journalctl -o
// json`, which prints any field larger than 4096 bytes as null unless
// --all is given (journalctl(1)); journalMessage drops a null MESSAGE.
// The fatal line vanishes from the log tail, and the failure's reason
// becomes the line before it ("loading plugins from /usr/lib/app"):
// omni names a harmless line as why the start failed.
//
// An operator expects the fatal line (cut to omni's 300 bytes) as the
// reason and in the tail.
func TestSystemdFailedStartReasonFromALongJournalLine(t *testing.T) {
	const a = "127.0.84.41"
	const prefix = `{"level":"fatal","msg":"cannot open database: permission denied","config":"`
	body := prefix + strings.Repeat("x", 5000) + `"}`
	h, f := bootSystemdHost(t, "omni-rv-longline-sd", a, map[string]string{
		"app.service": "[Unit]\nDescription=app\n\n[Service]\nType=exec\n" +
			"ExecStartPre=/bin/sh -c 'echo loading plugins from /usr/lib/app; cat /etc/app-fatal.json >&2; exit 1'\n" +
			"ExecStart=/bin/sleep 1000\n",
	}, nil,
		"  sd1: {address: "+a+", port: 22, user: root, sudo: false, roles: [worker], service_address: "+a+"}\n",
		"  app: {}\n")
	h.Run(t, "printf '%s\\n' '"+body+"' > /etc/app-fatal.json")

	out, errOut, code := f.omni(t, "-o", "json", "service", "start", "sd1", "app")
	doc := failedDoc(t, out, errOut, code)
	if j := h.Run(t, "journalctl -u app.service -q --no-pager -o cat"); !strings.Contains(j, prefix) {
		t.Fatalf("the fatal line is not in the unit's journal:\n%.600s", j)
	}
	found := false
	for _, l := range doc.step.LogTail {
		found = found || strings.HasPrefix(l, prefix)
	}
	if !strings.HasPrefix(doc.Reason, prefix) || !found {
		t.Errorf("start failed on a %d-byte fatal line: reason %q, tail %q; want the fatal line (cut) as the reason and in the tail", len(body), doc.Reason, doc.step.LogTail)
	}
}
