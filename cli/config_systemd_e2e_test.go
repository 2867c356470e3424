package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/omni-fleet/omni/engine/config"
	"github.com/omni-fleet/omni/internal/testkit/demosvctest"
	"github.com/omni-fleet/omni/internal/testkit/sshtest"
	"github.com/omni-fleet/omni/internal/testkit/systemdtest"
	"github.com/omni-fleet/omni/registry"
)

// The configuration of services on real systemd hosts: two hosts booted
// by systemdtest, cf1 reached as root and cf2 as deploy through sudo -n,
// each with the unit api (the demo service; $API_FLAGS from its
// environment file goes on its command line, so that a configuration can
// make it unhealthy).

const cfPort = 17621

// The secrets of the test: never in any output, JSON or registry byte.
const (
	cfDBPassword  = "s3cr3t-DB-pass-9f2c"
	cfDBPassword2 = "s3cr3t-DB-pass-NEW-77a1"
	cfToken       = "TOKEN-SECRET-4b1e-xyz"
	cfToken2      = "TOKEN-SECRET-second-c0ffee"
)

type cfFleet struct {
	hosts map[string]*systemdtest.Host
	dir   string // the inventory's directory
	inv   string
	mu    sync.Mutex
	seen  bytes.Buffer // every output of every omni run of the test
}

func (f *cfFleet) omni(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	s, out, errOut := TestStreams("", false)
	code := Run(context.Background(), append([]string{"-i", f.inv}, args...), s)
	f.mu.Lock()
	f.seen.WriteString(out.String() + errOut.String())
	f.mu.Unlock()
	return out.String(), errOut.String(), code
}

// write puts a file of the inventory's directory.
func (f *cfFleet) write(t *testing.T, name, content string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(f.dir, name), []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// inventory writes the inventory: greeting and flags are api's GREETING
// and API_FLAGS; cf1Flags, when set, overrides API_FLAGS on cf1.
func (f *cfFleet) inventory(t *testing.T, greeting, flags, cf1Flags string) {
	t.Helper()
	override := ""
	if cf1Flags != "" {
		override = ", config: {api: {env: {API_FLAGS: " + strconv.Quote(cf1Flags) + "}}}"
	}
	p := strconv.Itoa(cfPort)
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
  cf1: {address: 127.0.9.21, port: 22, user: root, sudo: false, roles: [app], service_address: 127.0.9.21` + override + `}
  cf2: {address: 127.0.9.22, port: 22, user: deploy, sudo: true, roles: [app], service_address: 127.0.9.22}
roles:
  app: [api]
services:
  api:
    health: {process: true, port: ` + p + `, http: {port: ` + p + `, path: /healthz}, retries: 12, interval: 250ms, timeout: 2s}
    env:
      GREETING: ` + strconv.Quote(greeting) + `
      API_FLAGS: ` + strconv.Quote(flags) + `
      DB_PASSWORD: {from_env: OMNI_TEST_DB_PASSWORD, secret: true}
    dropin:
      Service:
        Environment: ["EXTRA=from-dropin"]
    files:
      - path: /etc/api/api.conf
        source: api.conf
        validate: "grep -q '^valid' %s || { echo 'api.conf: the first line must say valid' >&2; exit 1; }"
      - {path: /etc/api/token, source: token.secret, secret: true}
`
	f.write(t, "inventory.yaml", inv)
}

func bootConfigFleet(t *testing.T) *cfFleet {
	t.Helper()
	bin := demosvctest.Binary(t)
	f := &cfFleet{hosts: map[string]*systemdtest.Host{}, dir: t.TempDir()}
	addrs := map[string]string{"cf1": "127.0.9.21", "cf2": "127.0.9.22"}
	var wg sync.WaitGroup
	for name, addr := range addrs {
		wg.Go(func() {
			h := systemdtest.Boot(t, systemdtest.Options{
				Name: "omni-cfg-" + name, Addr: addr,
				Files: map[string]string{
					"/etc/systemd/system/refs.service": "[Unit]\nAfter=api.service\n\n[Service]\nType=oneshot\nRemainAfterExit=yes\nExecStart=/bin/true\n",
					"/etc/systemd/system/api.service": "[Unit]\nDescription=omni config test\n\n[Service]\nExecStart=/usr/local/bin/omni-demo-svc --name api --listen " +
						addr + ":" + strconv.Itoa(cfPort) + " $API_FLAGS\n",
				},
				Executables: map[string]string{"/usr/local/bin/omni-demo-svc": bin},
				Users:       []string{"deploy"}, Enable: []string{"refs.service"},
			})
			f.mu.Lock()
			f.hosts[name] = h
			f.mu.Unlock()
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	var known []byte
	for _, name := range []string{"cf1", "cf2"} {
		b, err := os.ReadFile(f.hosts[name].KnownHostsFile)
		if err != nil {
			t.Fatal(err)
		}
		known = append(known, b...)
	}
	if err := os.WriteFile(filepath.Join(f.dir, "known_hosts"), known, 0o644); err != nil {
		t.Fatal(err)
	}
	f.inv = filepath.Join(f.dir, "inventory.yaml")
	return f
}

// mainPID is the unit's MainPID ("0" when it does not run).
func mainPID(t *testing.T, h *systemdtest.Host) string {
	t.Helper()
	return show(t, h, "api.service", "MainPID")["MainPID"]
}

// environ is the environment of the unit's main process, without the
// secret (the test reads it; omni never does).
func environ(t *testing.T, h *systemdtest.Host) string {
	t.Helper()
	pid := mainPID(t, h)
	out := h.Run(t, "tr '\\0' '\\n' </proc/"+pid+"/environ | grep -v '^DB_PASSWORD='")
	return out
}

// mtime is a file's modification time on the host, to the nanosecond.
func mtime(t *testing.T, h *systemdtest.Host, path string) string {
	t.Helper()
	return strings.TrimSpace(h.Run(t, "stat -c %y -- "+path))
}

// TestConfigOnSystemd: start applies the declared configuration first;
// apply writes the env file and the drop-in, daemon-reloads, restarts
// rolling; a second apply changes nothing; a failing validator changes
// nothing; readers never see a partial file; a restart that fails leaves
// the service pending and diff exits 6; secrets appear in no output and
// no registry byte.
func TestConfigOnSystemd(t *testing.T) {
	f := bootConfigFleet(t)
	cf1, cf2 := f.hosts["cf1"], f.hosts["cf2"]
	t.Setenv("OMNI_TEST_DB_PASSWORD", cfDBPassword)
	f.write(t, "api.conf", "valid 1\n")
	f.write(t, "token.secret", cfToken+"\n")
	f.inventory(t, "hello", "", "")
	wantEnv := func(t *testing.T, h *systemdtest.Host, greeting string) {
		t.Helper()
		env := environ(t, h)
		if !strings.Contains(env, "GREETING="+greeting+"\n") || !strings.Contains(env, "EXTRA=from-dropin\n") {
			t.Errorf("%s: the service's environment, want GREETING=%s and EXTRA=from-dropin:\n%s", h.Name, greeting, env)
		}
		// systemd's own view of the unit: the drop-in's Environment= and
		// the environment file it wires in.
		props := show(t, h, "api.service", "Environment", "EnvironmentFiles")
		if !strings.Contains(props["Environment"], "EXTRA=from-dropin") || !strings.HasPrefix(props["EnvironmentFiles"], "/etc/omni/env/api.env ") {
			t.Errorf("%s: systemctl show: Environment=%q EnvironmentFiles=%q, want EXTRA=from-dropin and /etc/omni/env/api.env", h.Name, props["Environment"], props["EnvironmentFiles"])
		}
	}

	t.Run("start applies the configuration first", func(t *testing.T) {
		out, errOut, code := f.omni(t, "service", "start", "cf1", "api", "--dry-run")
		if code != 0 || !regexp.MustCompile(`config +1m0s +write the declared configuration when the host's copy differs: /etc/omni/env/api.env, /etc/systemd/system/api.service.d/50-omni.conf, /etc/api/api.conf, /etc/api/token`).MatchString(out) {
			t.Fatalf("dry run: exit %d, want the config step and its files\n%s%s", code, out, errOut)
		}
		if p := mainPID(t, cf1); p != "0" {
			t.Fatalf("the dry run started the unit: pid %s", p)
		}
		out, errOut, code = f.omni(t, "service", "start", "cf1", "api", "-v")
		if code != 0 || !regexp.MustCompile(`ok config .*wrote /etc/omni/env/api.env, /etc/systemd/system/api.service.d/50-omni.conf, /etc/api/api.conf, /etc/api/token; daemon-reload`).MatchString(errOut) {
			t.Fatalf("start: exit %d, want the config step writing the files with a daemon-reload\n%s%s", code, out, errOut)
		}
		wantEnv(t, cf1, "hello")
		if got := cf1.Run(t, "cat /etc/api/api.conf; stat -c %a /etc/api/token /etc/omni/env/api.env"); got != "valid 1\n600\n600\n" {
			t.Errorf("files on the host: %q", got)
		}
		out, errOut, code = f.omni(t, "config", "diff", "cf1", "api")
		if code != 0 {
			t.Errorf("diff after the start: exit %d, want 0\n%s%s", code, out, errOut)
		}
	})

	t.Run("apply writes, daemon-reloads and restarts rolling; again changes nothing", func(t *testing.T) {
		if _, _, code := f.omni(t, "service", "start", "cf2", "api"); code != 0 {
			t.Fatal("start cf2")
		}
		before := map[string]string{"cf1": mainPID(t, cf1), "cf2": mainPID(t, cf2)}
		f.inventory(t, "bonjour", "", "")
		out, errOut, code := f.omni(t, "config", "diff")
		if code != ExitDiffers || !strings.Contains(out, "~ GREETING: hello → bonjour") {
			t.Errorf("diff: exit %d, want 6 and the GREETING line\n%s%s", code, out, errOut)
		}
		out, errOut, code = f.omni(t, "config", "apply", "all", "api", "--restart", "rolling", "--min-ready", "1s", "--yes")
		if code != 0 || strings.Count(out, "restarted") != 2 {
			t.Fatalf("apply: exit %d, want both restarted\n%s%s", code, out, errOut)
		}
		for name, h := range map[string]*systemdtest.Host{"cf1": cf1, "cf2": cf2} {
			if p := mainPID(t, h); p == before[name] || p == "0" {
				t.Errorf("%s: pid %s, was %s: not restarted", name, p, before[name])
			}
			wantEnv(t, h, "bonjour")
			if r := show(t, h, "api.service", "NeedDaemonReload")["NeedDaemonReload"]; r != "no" {
				t.Errorf("%s: NeedDaemonReload=%s after apply", name, r)
			}
		}
		// Rolling: one host's restart ended before the other's began.
		evs := configEvents(t, f, "restart")
		if len(evs) < 2 {
			t.Fatalf("restart events: %d", len(evs))
		}
		a, b := evs[1], evs[0] // newest first
		if a.Host == b.Host || a.Finished.After(b.Started) {
			t.Errorf("not one at a time: %s %s–%s, %s %s–%s", a.Host, a.Started, a.Finished, b.Host, b.Started, b.Finished)
		}

		pids := map[string]string{"cf1": mainPID(t, cf1), "cf2": mainPID(t, cf2)}
		times := map[string]string{"cf1": mtime(t, cf1, "/etc/omni/env/api.env"), "cf2": mtime(t, cf2, "/etc/api/api.conf")}
		out, errOut, code = f.omni(t, "config", "apply", "-o", "json")
		if code != 0 || strings.Contains(out, `"written"`) || strings.Contains(out, `"restarted"`) {
			t.Fatalf("second apply: exit %d, want nothing written or restarted\n%s%s", code, out, errOut)
		}
		if p := mainPID(t, cf1) + mainPID(t, cf2); p != pids["cf1"]+pids["cf2"] {
			t.Errorf("the second apply restarted: pids %v, now %s", pids, p)
		}
		if m := mtime(t, cf1, "/etc/omni/env/api.env"); m != times["cf1"] {
			t.Errorf("the second apply touched the env file: mtime %s, was %s", m, times["cf1"])
		}
		if m := mtime(t, cf2, "/etc/api/api.conf"); m != times["cf2"] {
			t.Errorf("the second apply touched api.conf: mtime %s, was %s", m, times["cf2"])
		}
		if out, errOut, code := f.omni(t, "config", "diff"); code != 0 {
			t.Errorf("diff after apply: exit %d\n%s%s", code, out, errOut)
		}
	})

	t.Run("a failing validator changes nothing", func(t *testing.T) {
		pid := mainPID(t, cf1)
		was := mtime(t, cf1, "/etc/api/api.conf")
		f.write(t, "api.conf", "broken 2\n")
		f.inventory(t, "bonjour", "", "")
		out, errOut, code := f.omni(t, "config", "apply", "cf1", "api")
		if code != ExitFailed || !strings.Contains(out+errOut, "/etc/api/api.conf") ||
			!strings.Contains(out+errOut, "api.conf: the first line must say valid") {
			t.Fatalf("apply: exit %d, want 1 naming the file and the validator's output\n%s%s", code, out, errOut)
		}
		if got := cf1.Run(t, "cat /etc/api/api.conf"); got != "valid 1\n" {
			t.Errorf("api.conf: %q, want the old file", got)
		}
		if m := mtime(t, cf1, "/etc/api/api.conf"); m != was || mainPID(t, cf1) != pid {
			t.Errorf("the failed apply touched the host: mtime %s (was %s), pid %s (was %s)", m, was, mainPID(t, cf1), pid)
		}
		// start/restart refuse the same way, before anything changes.
		out, errOut, code = f.omni(t, "service", "restart", "cf1", "api")
		if code != ExitFailed || !strings.Contains(out+errOut, "config") || mainPID(t, cf1) != pid {
			t.Errorf("restart with a bad config: exit %d, pid %s (was %s)\n%s%s", code, mainPID(t, cf1), pid, out, errOut)
		}
		f.write(t, "api.conf", "valid 1\n")
	})

	t.Run("readers never see a partial file", func(t *testing.T) {
		big := func(tag string) string {
			return "valid " + tag + "\n" + strings.Repeat(tag+" 0123456789abcdefghijklmnopqrstuvwxyz\n", 8000) + "end " + tag + "\n"
		}
		versions := []string{big("A"), big("B")}
		sums := map[string]bool{strings.TrimSpace(cf1.Run(t, "sha256sum </etc/api/api.conf | cut -c1-64")): true}
		for _, v := range versions {
			f.write(t, "api.conf", v)
			sums[strings.TrimSpace(hostSum(t, f.dir))] = true
		}
		cf1.Run(t, "rm -f /tmp/readers.log /tmp/readers.stop; nohup sh -c 'while [ ! -e /tmp/readers.stop ]; do sha256sum </etc/api/api.conf | cut -c1-64 >>/tmp/readers.log; done' </dev/null >/dev/null 2>&1 &")
		for i := range 4 {
			f.write(t, "api.conf", versions[i%2])
			if out, errOut, code := f.omni(t, "config", "apply", "cf1", "api", "--restart", "none"); code != 0 {
				t.Fatalf("apply %d: exit %d\n%s%s", i, code, out, errOut)
			}
		}
		cf1.Run(t, "touch /tmp/readers.stop; sleep 0.3")
		seen := strings.Fields(cf1.Run(t, "cat /tmp/readers.log"))
		distinct := map[string]bool{}
		for _, s := range seen {
			if !sums[s] {
				t.Fatalf("a reader saw content that is none of the versions (a partial file): %s (of %d reads)", s, len(seen))
			}
			distinct[s] = true
		}
		if len(distinct) < 2 || len(seen) < 20 {
			t.Errorf("the readers saw %d versions in %d reads: not a test", len(distinct), len(seen))
		}
		f.write(t, "api.conf", "valid 1\n")
		if out, errOut, code := f.omni(t, "config", "apply", "cf1", "api"); code != 0 {
			t.Fatalf("apply back: exit %d\n%s%s", code, out, errOut)
		}
	})

	t.Run("a failed restart leaves the service pending", func(t *testing.T) {
		f.inventory(t, "bonjour", "", "--unhealthy")
		out, errOut, code := f.omni(t, "config", "apply", "cf1", "api")
		if code != ExitFailed {
			t.Fatalf("apply of an unhealthy configuration: exit %d, want 1\n%s%s", code, out, errOut)
		}
		out, errOut, code = f.omni(t, "config", "diff", "cf1", "api")
		if code != ExitDiffers || !strings.Contains(out, "pending restart") {
			t.Fatalf("diff: exit %d, want 6 saying pending\n%s%s", code, out, errOut)
		}
		rec := configRecord(t, f, "cf1")
		if rec.Config == nil || !rec.Config.Pending {
			t.Errorf("registry: %+v, want pending", rec.Config)
		}
		f.inventory(t, "bonjour", "", "")
		if out, errOut, code := f.omni(t, "config", "apply", "cf1", "api"); code != 0 {
			t.Fatalf("apply back: exit %d\n%s%s", code, out, errOut)
		}
		if out, errOut, code := f.omni(t, "config", "diff", "cf1", "api"); code != 0 {
			t.Errorf("diff after the good apply: exit %d\n%s%s", code, out, errOut)
		}
		if rec := configRecord(t, f, "cf1"); rec.Config == nil || rec.Config.Pending || rec.Config.RunningWith != rec.Config.Applied {
			t.Errorf("registry after the good apply: %+v", rec.Config)
		}
	})

	t.Run("secrets appear nowhere", func(t *testing.T) {
		t.Setenv("OMNI_TEST_DB_PASSWORD", cfDBPassword2)
		f.write(t, "token.secret", cfToken2+"\n")
		out, errOut, code := f.omni(t, "config", "diff", "cf2", "api")
		if code != ExitDiffers || !strings.Contains(out, "~ DB_PASSWORD (secret, changed)") || !strings.Contains(out, "~ /etc/api/token (secret, changed)") {
			t.Errorf("diff: exit %d, want the secret key and file named as changed\n%s%s", code, out, errOut)
		}
		f.omni(t, "config", "diff", "-o", "json")
		f.omni(t, "config", "apply", "--dry-run")
		f.omni(t, "config", "apply", "--dry-run", "-o", "json")
		if _, _, code := f.omni(t, "config", "apply", "all", "api", "-v", "-o", "json"); code != 0 {
			t.Errorf("apply of the new secrets: exit %d", code)
		}
		f.omni(t, "service", "restart", "cf1", "api", "-v", "-o", "json")
		f.omni(t, "service", "history", "cf1", "api", "-o", "json")
		if got := cf2.Run(t, "cat /etc/api/token"); got != cfToken2+"\n" {
			t.Errorf("the secret file was not written: %d bytes", len(got))
		}
		db, err := os.ReadFile(filepath.Join(f.dir, "registry.db"))
		if err != nil {
			t.Fatal(err)
		}
		for _, secret := range []string{cfDBPassword, cfDBPassword2, cfToken, cfToken2} {
			if strings.Contains(f.seen.String(), secret) {
				t.Errorf("a secret is in omni's output")
			}
			if bytes.Contains(db, []byte(secret)) {
				t.Errorf("a secret is in the registry file")
			}
		}
	})

	t.Run("a file the login user cannot write names sudo", func(t *testing.T) {
		t.Setenv("OMNI_TEST_DB_PASSWORD", cfDBPassword2)
		f.inventory(t, "hola", "", "")
		inv, err := os.ReadFile(f.inv)
		if err != nil {
			t.Fatal(err)
		}
		f.write(t, "inventory.yaml", strings.Replace(string(inv), "user: deploy, sudo: true", "user: deploy, sudo: false", 1))
		before := cf2.Run(t, "cat /etc/api/api.conf; stat -c %Y /etc/omni/env/api.env")
		out, errOut, code := f.omni(t, "config", "apply", "cf2", "api")
		if code != ExitFailed || !strings.Contains(errOut, "cf2") || !strings.Contains(errOut, "not run under sudo: set sudo: true") {
			t.Fatalf("apply as deploy without sudo: exit %d, want 1 naming the host and the sudo hint\n%s%s", code, out, errOut)
		}
		if after := cf2.Run(t, "cat /etc/api/api.conf; stat -c %Y /etc/omni/env/api.env"); after != before {
			t.Errorf("a refused apply changed files: %q → %q", before, after)
		}
	})
}

// hostSum is the sha256 of the inventory's api.conf, as the host prints it.
func hostSum(t *testing.T, dir string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "api.conf"))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimPrefix(config.HashBytes(b), "sha256:")
}

// configEvents are the registry's per-host events of a command, newest first.
func configEvents(t *testing.T, f *cfFleet, command string) []registry.Event {
	t.Helper()
	reg, err := registry.Open(context.Background(), filepath.Join(f.dir, "registry.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	evs, err := reg.Events(registry.EventQuery{Service: "api"})
	if err != nil {
		t.Fatal(err)
	}
	var out []registry.Event
	for _, e := range evs {
		if e.Host != "" && strings.HasPrefix(e.Command, command) {
			out = append(out, e)
		}
	}
	return out
}

func configRecord(t *testing.T, f *cfFleet, host string) registry.Record {
	t.Helper()
	reg, err := registry.Open(context.Background(), filepath.Join(f.dir, "registry.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	rec, _, err := reg.Get(host, "api")
	if err != nil {
		t.Fatal(err)
	}
	return rec
}
