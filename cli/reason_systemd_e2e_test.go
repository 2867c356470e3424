package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/omni-fleet/omni/internal/testkit/demosvctest"
	"github.com/omni-fleet/omni/internal/testkit/sshtest"
	"github.com/omni-fleet/omni/internal/testkit/systemdtest"
)

// The reason of a failed start, over real systemd: the unit's own error
// line from the journal is in the text, the JSON and the history of a
// failed start and a failed restart; lines of an earlier failed run are
// not shown as the reason of this one.

const reasonPort = 17621

// The configuration check of web: an nginx-like `-t` that reads
// /etc/web.conf and says what is wrong with it on stderr.
const webCheck = `if grep -q bogus /etc/web.conf; then
	echo 'nginx: [emerg] unknown directive "bogus" in /etc/web.conf:3' >&2
	exit 1
fi
if grep -q twice /etc/web.conf; then
	echo 'nginx: [emerg] "listen" directive is duplicate in /etc/web.conf:9' >&2
	exit 1
fi
echo 'configuration file /etc/web.conf test is successful'
`

const emergBogus = `nginx: [emerg] unknown directive "bogus" in /etc/web.conf:3`
const emergTwice = `nginx: [emerg] "listen" directive is duplicate in /etc/web.conf:9`

// A failed-step document of -o json, and of the history.
type reasonStep struct {
	Step, Result, Error, Reason string
	LogTail                     []string `json:"log_tail"`
	LogSource                   string   `json:"log_source"`
}

func TestSystemdFailedStartSaysWhy(t *testing.T) {
	const addr = "127.0.9.21"
	svc := "/usr/local/bin/omni-demo-svc"
	h := systemdtest.Boot(t, systemdtest.Options{
		Name: "omni-e2e-reason", Addr: addr,
		Files: map[string]string{
			"/etc/systemd/system/refs.service": "[Unit]\nAfter=web.service dies.service\n\n" +
				"[Service]\nType=oneshot\nRemainAfterExit=yes\nExecStart=/bin/true\n",
			"/usr/local/lib/web-check.sh": webCheck,
			"/etc/web.conf":               "listen 80;\n",
			"/etc/systemd/system/web.service": "[Unit]\nDescription=web\n\n[Service]\nExecStartPre=/bin/sh /usr/local/lib/web-check.sh\nExecStart=" + svc +
				" --name web --listen " + addr + ":" + strconv.Itoa(reasonPort) + "\n",
			// dies exits at once, after its start succeeded (Type=simple):
			// its health check fails, and says why.
			"/etc/systemd/system/dies.service": "[Unit]\nDescription=dies\n\n[Service]\nExecStart=/bin/sh -c 'echo fatal: cannot open /var/lib/dies/state: Permission denied >&2; exit 3'\n",
		},
		Executables: map[string]string{svc: demosvctest.Binary(t)},
		Enable:      []string{"refs.service"},
	})
	dir := t.TempDir()
	known, err := os.ReadFile(h.KnownHostsFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "known_hosts"), known, 0o644); err != nil {
		t.Fatal(err)
	}
	p := strconv.Itoa(reasonPort)
	inv := `version: 1
defaults:
  identity_file: ` + sshtest.ClientKey(t) + `
  known_hosts: known_hosts
  manager: systemd
  stop_grace: 5s
  start_timeout: 20s
registry:
  path: registry.db
hosts:
  sd: {address: ` + addr + `, port: 22, user: root, sudo: false, roles: [front], service_address: ` + addr + `}
roles:
  front: [web, dies]
services:
  web:
    health: {process: true, port: ` + p + `, http: {port: ` + p + `, path: /healthz}, retries: 20, interval: 250ms, timeout: 2s}
  dies:
    health: {process: true, retries: 4, interval: 250ms}
`
	f := &sdFleet{inventory: filepath.Join(dir, "inventory.yaml")}
	if err := os.WriteFile(f.inventory, []byte(inv), 0o644); err != nil {
		t.Fatal(err)
	}

	if out, errOut, code := f.omni(t, "service", "start", "sd", "web"); code != 0 {
		t.Fatalf("start with a good configuration: exit %d\n%s%s", code, out, errOut)
	}

	// A restart with a broken configuration: the check's own line, indented
	// under the ✗ line, not only systemctl's "see journalctl -xeu".
	h.Run(t, "echo 'bogus on;' >> /etc/web.conf")
	out, errOut, code := f.omni(t, "service", "restart", "sd", "web")
	if code != 1 || !strings.Contains(errOut, "Failed to restart web on sd: start: systemctl start web.service: exit 1") ||
		!strings.Contains(errOut, "\n  Log (journalctl -u web.service since the start, last ") ||
		!strings.Contains(errOut, "\n    "+emergBogus+"\n") {
		t.Fatalf("restart with a broken configuration: exit %d, want 1 with the unit's own error line\n%s%s", code, out, errOut)
	}
	out, errOut, code = f.omni(t, "-o", "json", "service", "restart", "sd", "web")
	doc := failedDoc(t, out, errOut, code)
	if doc.Reason != emergBogus || doc.step.Step != "start" || doc.step.Reason != emergBogus ||
		!containsLine(doc.step.LogTail, emergBogus) || doc.step.LogSource != "journalctl -u web.service since the start" {
		t.Errorf("restart -o json: reason %q, failed step %+v, want %q\n%s", doc.Reason, doc.step, emergBogus, out)
	}

	// Another error in the configuration: the start shows it, not the
	// earlier run's, although both are in the unit's journal.
	h.Run(t, "printf 'listen 80;\\nlisten twice;\\n' > /etc/web.conf")
	out, errOut, code = f.omni(t, "-o", "json", "service", "start", "sd", "web")
	doc = failedDoc(t, out, errOut, code)
	if doc.Reason != emergTwice || !containsLine(doc.step.LogTail, emergTwice) || containsLine(doc.step.LogTail, emergBogus) {
		t.Errorf("start -o json after a second error: reason %q, tail %q, want %q only\n%s", doc.Reason, doc.step.LogTail, emergTwice, out)
	}
	out, errOut, code = f.omni(t, "service", "start", "sd", "web")
	if code != 1 || !strings.Contains(errOut, "\n    "+emergTwice+"\n") || strings.Contains(errOut, emergBogus) {
		t.Errorf("start after a second error: exit %d\n%s%s", code, out, errOut)
	}

	// The history keeps the reason of each failed start and restart.
	out, errOut, code = f.omni(t, "-o", "json", "service", "history", "sd", "web")
	var hist struct {
		Events []struct {
			Command, Result, Reason string
			Steps                   []reasonStep
		}
	}
	if err := json.Unmarshal([]byte(out), &hist); err != nil || code != 0 {
		t.Fatalf("history -o json: exit %d, %v\n%s%s", code, err, out, errOut)
	}
	reasons := map[string][]string{}
	for _, e := range hist.Events {
		for _, st := range e.Steps {
			if st.Result == "failed" {
				reasons[strings.Fields(e.Command)[0]] = append(reasons[strings.Fields(e.Command)[0]], e.Reason+" | "+st.Reason+" | "+strings.Join(st.LogTail, "\n"))
			}
		}
	}
	if r := strings.Join(reasons["restart"], "\n"); strings.Count(r, emergBogus) < 6 || len(reasons["restart"]) != 2 {
		t.Errorf("history of the failed restarts, want the reason and tail of each:\n%s", r)
	}
	if r := strings.Join(reasons["start"], "\n"); strings.Count(r, emergTwice) < 6 || len(reasons["start"]) != 2 || strings.Contains(r, emergBogus) {
		t.Errorf("history of the failed starts:\n%s", r)
	}
	out, _, _ = f.omni(t, "service", "history", "sd", "web")
	if !strings.Contains(out, `start: nginx: [emerg] "listen" directive is duplicate`) ||
		!strings.Contains(out, `start: nginx: [emerg] unknown directive "bogus"`) {
		t.Errorf("history table, want the reasons:\n%s", out)
	}

	// A unit whose start succeeds and which dies at once: its failed
	// health check carries its last words.
	const fatal = "fatal: cannot open /var/lib/dies/state: Permission denied"
	out, errOut, code = f.omni(t, "service", "start", "sd", "dies")
	if code != 1 || !strings.Contains(errOut, "Failed to start dies on sd: health: ") || !strings.Contains(errOut, "\n    "+fatal+"\n") {
		t.Errorf("start of a unit that dies at once: exit %d, want its last words under the health failure\n%s%s", code, out, errOut)
	}
	out, errOut, code = f.omni(t, "-o", "json", "service", "start", "sd", "dies")
	if doc := failedDoc(t, out, errOut, code); doc.Reason != fatal || doc.step.Step != "health" {
		t.Errorf("start -o json of a unit that dies at once: reason %q, step %+v\n%s", doc.Reason, doc.step, out)
	}
}

// failedDoc reads the -o json document of a failed start or restart: its
// reason and its failed step.
func failedDoc(t *testing.T, out, errOut string, code int) struct {
	Reason string
	step   reasonStep
} {
	t.Helper()
	var doc struct {
		Result, Reason string
		Steps          []reasonStep
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil || code != 1 || doc.Result != "failed" {
		t.Fatalf("want a failed document, exit 1: exit %d, %v\n%s%s", code, err, out, errOut)
	}
	res := struct {
		Reason string
		step   reasonStep
	}{Reason: doc.Reason}
	for _, st := range doc.Steps {
		if st.Result == "failed" {
			res.step = st
		}
	}
	return res
}

func containsLine(lines []string, want string) bool {
	for _, l := range lines {
		if l == want {
			return true
		}
	}
	return false
}
