package engine

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/omni-fleet/omni/engine/config"
	"github.com/omni-fleet/omni/registry"
)

// apply runs ApplyConfig and returns the only service result of a
// one-host apply, checking that no secret value is in the report.
func (f *configFixture) apply(t *testing.T, req ConfigRequest) ConfigServiceResult {
	t.Helper()
	rep, err := ApplyConfig(testContext(t), f.reg, req, f.env())
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Hosts) != 1 || rep.Hosts[0].Err != nil || len(rep.Hosts[0].Services) != 1 {
		t.Fatalf("report %+v", rep)
	}
	b, _ := json.Marshal(rep)
	noSecret(t, "the apply report", string(b)+fmt.Sprintf("%+v", rep))
	return rep.Hosts[0].Services[0]
}

func actions(sr ConfigServiceResult) string {
	var out []string
	for _, f := range sr.Files {
		out = append(out, string(f.Kind)+" "+string(f.Action))
	}
	return strings.Join(out, ", ")
}

// TestApplyConfig: phase 1 of `omni config apply` on real files through
// sh: a dry run writes nothing; the apply writes the env file (secret
// included, mode 0600), the validated file (0640) and the motd, records
// an event with hashes and the state, pending a restart while the service
// runs; an apply with nothing new rewrites nothing but does the restart
// still owed (config_owed); a change of an on_change none file asks for
// no restart; --restart none records the skip; a stopped service owes
// nothing.
func TestApplyConfig(t *testing.T) {
	f := newConfigFixture(t, "")
	req := ConfigRequest{Target: "h1", Service: "app", DryRun: true, LockTimeout: time.Second}

	sr := f.apply(t, req)
	// app is not running yet: the apply would leave it stopped, and so
	// says its dry run (it reads the service's state as the apply does).
	if got := actions(sr); got != "env written, file written, file written" || sr.Restart || !strings.Contains(sr.PendingReason, "would be written while stopped") {
		t.Fatalf("dry run: %s, restart %v, pending %q", got, sr.Restart, sr.PendingReason)
	}
	if _, err := os.Stat(f.envFile); !os.IsNotExist(err) {
		t.Fatalf("the dry run wrote the env file: %v", err)
	}
	if _, ok, _ := f.reg.Get("h1", "app"); ok {
		t.Fatal("the dry run wrote the registry")
	}

	// The service runs: the apply writes and owes a restart.
	if err := os.WriteFile(f.upFile, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	req.DryRun = false
	sr = f.apply(t, req)
	if !sr.Changed() || !sr.Restart || !sr.Pending || sr.PendingReason != pendingWritten || sr.Owed != "" {
		t.Fatalf("apply: %+v", sr)
	}
	if env := readFile(t, f.envFile); !strings.Contains(env, `PORT="8080"`) || !strings.Contains(env, secretValue) {
		t.Fatalf("env file:\n%s", env)
	}
	for p, mode := range map[string]os.FileMode{f.envFile: config.SecretMode, f.appConf: 0o640, f.motd: config.DefaultMode} {
		if st, err := os.Stat(p); err != nil || st.Mode().Perm() != mode {
			t.Fatalf("%s: %v, mode %v, want %v", p, err, st.Mode().Perm(), mode)
		}
	}
	if readFile(t, f.appConf) != "mode good\nworkers 4\n" {
		t.Fatal("app.conf content")
	}
	rec, ok, err := f.reg.Get("h1", "app")
	if err != nil || !ok || rec.Config == nil || !rec.Config.Pending || rec.Config.Applied == "" || len(rec.Config.Files) != 3 {
		t.Fatalf("registry after apply: %v %v %+v", ok, err, rec.Config)
	}
	events, err := f.reg.Events(registry.EventQuery{Hosts: []string{"h1"}, Service: "app", ConfigOnly: true})
	if err != nil || len(events) != 1 || len(events[0].Config) != 3 || events[0].Result != string(ClassOK) {
		t.Fatalf("events: %v %+v", err, events)
	}
	b, _ := json.Marshal(events)
	noSecret(t, "the registry's events", string(b))
	// The secret file's content is not kept; the others are.
	for _, ch := range events[0].Config {
		_, kept, _ := f.reg.Blob(ch.New)
		if kept == ch.Secret {
			t.Fatalf("%s (secret %v): blob kept %v", ch.Path, ch.Secret, kept)
		}
	}

	// Nothing new: nothing written, the owed restart still asked for.
	envStat, _ := os.Stat(f.envFile)
	sr = f.apply(t, req)
	if sr.Changed() || !sr.Restart || !strings.HasPrefix(sr.Owed, PendingEarlier) || !sr.Pending {
		t.Fatalf("second apply: %+v", sr)
	}
	if st, _ := os.Stat(f.envFile); !st.ModTime().Equal(envStat.ModTime()) {
		t.Fatal("the second apply rewrote the env file")
	}
	// The restart ran (as phase 2 would record it): nothing owed.
	if err := MarkConfigRunning(f.reg, "h1", "app", rec.Config.Applied); err != nil {
		t.Fatal(err)
	}
	sr = f.apply(t, req)
	if sr.Restart || sr.Pending || sr.Owed != "" {
		t.Fatalf("apply after the restart: %+v", sr)
	}

	// on_change none: written, nothing owed, and it runs with the new set.
	f.writeSource(t, "motd", "hello again\n")
	f.load(t)
	sr = f.apply(t, req)
	if got := actions(sr); got != "env unchanged, file unchanged, file written" || sr.Restart || sr.Pending {
		t.Fatalf("motd change: %s %+v", got, sr)
	}
	if readFile(t, f.motd) != "hello again\n" {
		t.Fatal("motd not written")
	}
	if rec, _, _ := f.reg.Get("h1", "app"); rec.Config.Pending || rec.Config.RunningWith != rec.Config.Applied {
		t.Fatalf("after an on_change none write: %+v", rec.Config)
	}

	// --restart none: written, the skip recorded.
	f.writeSource(t, "app.conf", "mode good\nworkers 8\n")
	f.load(t)
	req.Restart = RestartNone
	sr = f.apply(t, req)
	if sr.Restart || !sr.Pending || sr.PendingReason != pendingSkipped {
		t.Fatalf("--restart none: %+v", sr)
	}

	// Stopped: its next start runs with it, nothing owed to an apply.
	if err := os.Remove(f.upFile); err != nil {
		t.Fatal(err)
	}
	req.Restart = RestartAuto
	f.writeSource(t, "app.conf", "mode good\nworkers 16\n")
	f.load(t)
	sr = f.apply(t, req)
	if sr.Restart || !sr.Pending || sr.PendingReason != pendingStopped {
		t.Fatalf("stopped: %+v", sr)
	}
	rec, _, _ = f.reg.Get("h1", "app")
	if owed, _ := owedEarlier(rec.Config); owed != "" {
		t.Fatalf("written while stopped owes %q", owed)
	}
}

// TestApplyConfigValidatorFails: a validator that fails writes nothing on
// the host (not even the files that passed), names the file, and records
// a failed event; the registry's state is untouched.
func TestApplyConfigValidatorFails(t *testing.T) {
	f := newConfigFixture(t, "")
	ctx := testContext(t)
	f.writeSource(t, "app.conf", "mode bad\n")
	f.load(t)
	rep, err := ApplyConfig(ctx, f.reg, ConfigRequest{Target: "h1", LockTimeout: time.Second}, f.env())
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Hosts) != 1 || rep.Hosts[0].Err == nil {
		t.Fatalf("report %+v, want a host error", rep)
	}
	msg := rep.Hosts[0].Err.Error()
	if !strings.Contains(msg, f.appConf) || !strings.Contains(msg, "h1") || !strings.Contains(msg, "validate") {
		t.Fatalf("error %q does not name the host, the file and the validation", msg)
	}
	noSecret(t, "the validation error", msg)
	for _, p := range []string{f.envFile, f.appConf, f.motd} {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Fatalf("%s written although the validation failed: %v", p, err)
		}
	}
	if _, ok, _ := f.reg.Get("h1", "app"); ok {
		t.Fatal("a failed apply recorded a configuration state")
	}
	events, err := f.reg.Events(registry.EventQuery{Hosts: []string{"h1"}, Service: "app"})
	if err != nil || len(events) != 1 || events[0].Result != string(ClassFailed) || !strings.Contains(events[0].Error, "validate") {
		t.Fatalf("events: %v %+v", err, events)
	}
}

// TestApplyConfigRefusals: usage errors before anything is touched (a
// reload on a command-manager service, a target without configuration, a
// service that declares none, an unknown host), a lock another run holds
// (LockedError, refused), a host that cannot be reached.
func TestApplyConfigRefusals(t *testing.T) {
	f := newConfigFixture(t, "")
	ctx := testContext(t)
	var usage *UsageError
	for _, c := range []struct {
		req  ConfigRequest
		want string
	}{
		{ConfigRequest{Target: "h2"}, `no service declares configuration on "h2"`},
		{ConfigRequest{Target: "h2", Service: "app"}, `no host runs app on "h2"`},
		{ConfigRequest{Service: "plain"}, `service "plain" declares no configuration`},
	} {
		_, err := ApplyConfig(ctx, f.reg, c.req, f.env())
		if !errors.As(err, &usage) || !strings.Contains(err.Error(), c.want) || Classify(err) != ClassError {
			t.Errorf("%+v: %v, want a usage error saying %q", c.req, err, c.want)
		}
	}
	if _, err := ApplyConfig(ctx, f.reg, ConfigRequest{Target: "nosuch"}, f.env()); err == nil || Classify(err) != ClassError {
		t.Errorf("unknown target: %v", err)
	}
	if _, err := ApplyConfig(ctx, f.reg, ConfigRequest{Service: "nosuch"}, f.env()); err == nil || Classify(err) != ClassError {
		t.Errorf("unknown service: %v", err)
	}

	// The inventory refuses on_change: reload on a command service when it
	// loads; the command refuses it too, whatever built the sets.
	h1, _ := f.inv.Host("h1")
	app, _ := f.inv.Service("app")
	bad := configHost{host: h1, units: []configUnit{{svc: app, set: config.Set{Files: []config.File{{Path: "/r.conf", OnChange: config.OnChangeReload}}}}}}
	if err := refuseReloadOnCommand([]configHost{bad, bad}); !errors.As(err, &usage) ||
		!strings.Contains(err.Error(), "on_change: reload needs a systemd service (the command manager has no reload command): app (/r.conf); use") {
		t.Errorf("reload on a command service: %v", err)
	}

	unlock, err := f.reg.Lock(ctx, []string{registry.LockKey("h1", "app")}, registry.Owner{Operator: "other@run", Command: "service restart"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, err = ApplyConfig(ctx, f.reg, ConfigRequest{Target: "h1", LockTimeout: 50 * time.Millisecond}, f.env())
	var locked *registry.LockedError
	if !errors.As(err, &locked) || Classify(err) != ClassRefused {
		t.Fatalf("apply under another run's lock: %v", err)
	}
	if f.hosts.conn.commands() != 0 {
		t.Fatal("a refused apply ran commands")
	}
	// A dry run takes no lock.
	if rep, err := ApplyConfig(ctx, f.reg, ConfigRequest{Target: "h1", DryRun: true}, f.env()); err != nil || rep.Hosts[0].Err != nil {
		t.Fatalf("dry run under a lock: %v %+v", err, rep)
	}
	unlock()

	f.hosts.refuse = map[string]error{"h1": errors.New("connection refused")}
	rep, err := ApplyConfig(ctx, f.reg, ConfigRequest{Target: "h1", LockTimeout: time.Second}, f.env())
	if err != nil || rep.Hosts[0].Err == nil || !strings.Contains(rep.Hosts[0].Err.Error(), "h1: connection refused") {
		t.Fatalf("unreachable host: %v %+v", err, rep)
	}
	env := f.env()
	env.Connect = func() (Connector, func(), error) { return nil, nil, errors.New("no agent") }
	if _, err := ApplyConfig(ctx, f.reg, ConfigRequest{Target: "h1", LockTimeout: time.Second}, env); err == nil {
		t.Fatal("a connector that cannot open: no error")
	}
}

// TestApplyConfigDryRunSystemd: a dry run of a systemd service's drop-in
// and reload file reads the host and reports, writing nothing (no
// systemctl runs but the read of the unit's state, which decides the
// restart as the apply does); an earlier pending state shows as owed.
func TestApplyConfigDryRunSystemd(t *testing.T) {
	f := newConfigFixture(t, "")
	sr := f.apply(t, ConfigRequest{Target: "h3", DryRun: true})
	if got := actions(sr); got != "env written, dropin written, file written" || !sr.Restart {
		t.Fatalf("dry run: %s restart %v", got, sr.Restart)
	}
	for _, c := range f.hosts.conn.cmds {
		if strings.Contains(strings.ReplaceAll(c, "systemctl show ", ""), "systemctl") {
			t.Fatalf("a dry run ran systemctl: %s", c)
		}
	}
}
