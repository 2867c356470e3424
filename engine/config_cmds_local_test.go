package engine

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/omni-fleet/omni/engine/config"
	"github.com/omni-fleet/omni/registry"
)

// TestShowAndPullConfig: show renders the secret masked and reads the
// host's copies; pull writes the host's copy of a file into its source
// (atomically, keeping the source's mode), says what to put in the YAML
// for env, secret keys named without values, and leaves a missing file's
// source alone; a dry run writes nothing.
func TestShowAndPullConfig(t *testing.T) {
	f := newConfigFixture(t, "")
	ctx := testContext(t)
	if _, err := RenderConfigOne(f.inv, "h2", "plain"); Classify(err) != ClassError || !strings.Contains(err.Error(), "declares no configuration") {
		t.Fatalf("show of a service without configuration: %v", err)
	}
	if _, err := RenderConfigOne(f.inv, "nosuch", "app"); err == nil {
		t.Fatal("show of an unknown host: no error")
	}
	one, err := RenderConfigOne(f.inv, "h1", "app")
	if err != nil || one.Sudo || len(one.Set.Files) != 3 {
		t.Fatalf("render: %v %+v", err, one)
	}
	shown, ok := Shown(one.Set.Files[0], one.Set.Files[0].Content, false)
	if !ok || !strings.Contains(shown, "DB_PASSWORD="+SecretMark) || !strings.Contains(shown, `PORT="8080"`) {
		t.Fatalf("shown env:\n%s", shown)
	}
	noSecret(t, "the shown env", shown)
	if s, ok := Shown(config.File{Secret: true, Content: []byte(secretValue)}, []byte(secretValue), true); ok || s != "" {
		t.Fatalf("a secret file is shown: %q", s)
	}
	if s, _ := Shown(one.Set.Files[1], []byte("a\x1bb\n"), true); s != "a?b\n" {
		t.Fatalf("control characters: %q", s)
	}

	// Nothing on the host yet: every file missing, no source touched.
	rep, err := PullConfig(ctx, f.inv, f.reg, f.hosts, ConfigPullRequest{Host: "h1", Service: "app"})
	if err != nil || len(rep.Files) != 3 || rep.Files[1].Action != PullMissing || rep.Files[0].Action != PullMissing {
		t.Fatalf("pull before the apply: %v %+v", err, rep)
	}

	if err := os.WriteFile(f.upFile, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	f.apply(t, ConfigRequest{Target: "h1", Service: "app", LockTimeout: time.Second})
	live, err := ReadConfigLive(ctx, f.inv, f.hosts, one)
	if err != nil || len(live) != 3 || !live[1].Exists || string(live[1].Content) != "mode good\nworkers 4\n" || live[1].Mode.Perm() != 0o640 {
		t.Fatalf("live: %v %+v", err, live)
	}
	if masked, _ := Shown(one.Set.Files[0], live[0].Content, true); strings.Contains(masked, secretValue) || !strings.Contains(masked, SecretMark) {
		t.Fatalf("the host's env shown:\n%s", masked)
	}

	// Someone edits the host.
	if err := os.WriteFile(f.appConf, []byte("mode good\nworkers 4\nlog debug\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	env := strings.Replace(readFile(t, f.envFile), `PORT="8080"`, `PORT="9000"`, 1)
	env = strings.Replace(env, secretValue, "hand-set-secret", 1)
	if err := os.WriteFile(f.envFile, []byte(env), 0o600); err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(f.src, "app.conf")
	if err := os.Chmod(src, 0o640); err != nil {
		t.Fatal(err)
	}
	rep, err = PullConfig(ctx, f.inv, f.reg, f.hosts, ConfigPullRequest{Host: "h1", Service: "app", DryRun: true})
	if err != nil || rep.Files[1].Action != PullWouldDo || rep.Files[1].Added != 1 || rep.Files[1].Removed != 0 {
		t.Fatalf("pull --dry-run: %v %+v", err, rep.Files)
	}
	if readFile(t, src) != "mode good\nworkers 4\n" {
		t.Fatal("pull --dry-run wrote the source")
	}
	rep, err = PullConfig(ctx, f.inv, f.reg, f.hosts, ConfigPullRequest{Host: "h1", Service: "app"})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(rep)
	noSecret(t, "the pull report", string(b))
	if strings.Contains(string(b), "hand-set-secret") {
		t.Fatalf("the pull report holds the host's secret:\n%s", b)
	}
	byPath := map[string]ConfigPullFile{}
	for _, pf := range rep.Files {
		byPath[pf.Path] = pf
	}
	if pf := byPath[f.appConf]; pf.Action != PullWritten || pf.Source != src || len(pf.SharedWith) != 0 {
		t.Fatalf("app.conf: %+v", pf)
	}
	if readFile(t, src) != "mode good\nworkers 4\nlog debug\n" {
		t.Fatalf("source after pull:\n%s", readFile(t, src))
	}
	if st, _ := os.Stat(src); st.Mode().Perm() != 0o640 {
		t.Fatalf("pull changed the source's mode to %v", st.Mode().Perm())
	}
	if pf := byPath[f.envFile]; pf.Action != PullByHand || strings.Join(pf.YAML, "\n") != `PORT: "9000"` || strings.Join(pf.SecretKeys, ",") != "DB_PASSWORD" {
		t.Fatalf("env: %+v", pf)
	}
	if pf := byPath[f.motd]; pf.Action != PullUnchanged {
		t.Fatalf("motd: %+v", pf)
	}
	if len(rep.Refused()) != 0 {
		t.Fatalf("refused %q", rep.Refused())
	}
	f.hosts.refuse = map[string]error{"h1": errors.New("connection refused")}
	if _, err := PullConfig(ctx, f.inv, f.reg, f.hosts, ConfigPullRequest{Host: "h1", Service: "app"}); err == nil {
		t.Fatal("pull from an unreachable host: no error")
	}
}

// TestRollbackConfig: rollback of the apply that created the files is
// refused (omni removes nothing); after a second apply, a rollback whose
// secret env file the inventory no longer renders is refused with nothing
// changed; with the old secret back in its source it restores app.conf
// from the registry's blob and the env file from the inventory, records a
// rolled-back event and a pending restart; --to restores a hash.
func TestRollbackConfig(t *testing.T) {
	f := newConfigFixture(t, "")
	ctx := testContext(t)
	renv := func() ConfigEnv {
		return ConfigEnv{Inventory: f.inv, Connect: func() (Connector, func(), error) { return f.hosts, func() {}, nil }}
	}
	req := ConfigRollbackRequest{Host: "h1", Service: "app", LockTimeout: time.Second}
	if _, err := RollbackConfig(ctx, f.reg, req, renv()); Classify(err) != ClassError || !strings.Contains(err.Error(), "nothing to roll back") {
		t.Fatalf("rollback without history: %v", err)
	}
	if err := os.WriteFile(f.upFile, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	f.apply(t, ConfigRequest{Target: "h1", Service: "app", LockTimeout: time.Second})
	v1 := config.HashBytes([]byte("mode good\nworkers 4\n"))
	var refused *RefusedError
	if _, err := RollbackConfig(ctx, f.reg, req, renv()); !errors.As(err, &refused) || !strings.Contains(err.Error(), "created") {
		t.Fatalf("rollback of the creating apply: %v", err)
	}

	t.Setenv("OMNI_TEST_APP_PW", "second-secret-value")
	f.writeSource(t, "app.conf", "mode good\nworkers 8\n")
	f.load(t)
	f.apply(t, ConfigRequest{Target: "h1", Service: "app", LockTimeout: time.Second})
	envBefore := readFile(t, f.envFile)
	rep, err := RollbackConfig(ctx, f.reg, req, renv())
	if !errors.As(err, &refused) || !strings.Contains(err.Error(), f.envFile+" is secret") || Classify(err) != ClassRefused {
		t.Fatalf("rollback of a secret the inventory no longer renders: %v", err)
	}
	if readFile(t, f.appConf) != "mode good\nworkers 8\n" || readFile(t, f.envFile) != envBefore {
		t.Fatal("a refused rollback changed files")
	}
	noSecret(t, "the refusal", err.Error()+fmt.Sprintf("%+v", rep))

	// The old secret is back in its source: the env file can be rendered.
	t.Setenv("OMNI_TEST_APP_PW", secretValue)
	f.load(t)
	req.DryRun = true
	rep, err = RollbackConfig(ctx, f.reg, req, renv())
	if err != nil || len(rep.Files) != 2 || rep.Files[0].Action != "would roll back" || rep.Changed() {
		t.Fatalf("dry run: %v %+v", err, rep)
	}
	if readFile(t, f.appConf) != "mode good\nworkers 8\n" {
		t.Fatal("the dry run wrote")
	}
	req.DryRun = false
	rep, err = RollbackConfig(ctx, f.reg, req, renv())
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(rep)
	noSecret(t, "the rollback report", string(b))
	if strings.Contains(string(b), "second-secret-value") {
		t.Fatalf("the rollback report holds a secret:\n%s", b)
	}
	if !rep.Changed() || !rep.RestartOwed || rep.Event == "" || rep.Undoes == "" {
		t.Fatalf("rollback: %+v", rep)
	}
	origins := map[string]string{}
	for _, rf := range rep.Files {
		origins[rf.Path] = rf.Action + " from " + rf.Origin
		if rf.Secret && (rf.From != "" || rf.To != "") {
			t.Fatalf("a secret file's hashes in the report: %+v", rf)
		}
	}
	if origins[f.appConf] != "rolled back from registry" || origins[f.envFile] != "rolled back from inventory" {
		t.Fatalf("files: %q", origins)
	}
	if readFile(t, f.appConf) != "mode good\nworkers 4\n" || !strings.Contains(readFile(t, f.envFile), secretValue) {
		t.Fatal("the rollback did not restore the files")
	}
	rec, _, _ := f.reg.Get("h1", "app")
	if rec.Config == nil || !rec.Config.Pending || rec.Config.PendingReason != PendingRolledBack || rec.Config.Applied != rep.Applied {
		t.Fatalf("registry after the rollback: %+v", rec.Config)
	}
	evs, err := f.reg.Events(registry.EventQuery{Hosts: []string{"h1"}, Service: "app", ConfigOnly: true, Limit: 1})
	if err != nil || len(evs) != 1 || evs[0].ID != rep.Event || !isRollback(evs[0]) {
		t.Fatalf("rollback event: %v %+v", err, evs)
	}

	// --to the second apply's app.conf.
	req.To = ShortHash(config.HashBytes([]byte("mode good\nworkers 8\n")))
	rep, err = RollbackConfig(ctx, f.reg, req, renv())
	if err != nil || len(rep.Files) != 1 || rep.Files[0].Action != registry.ConfigRolledBack || rep.Files[0].From != v1 {
		t.Fatalf("--to: %v %+v", err, rep)
	}
	if readFile(t, f.appConf) != "mode good\nworkers 8\n" {
		t.Fatal("--to did not restore app.conf")
	}
	// The restart ran with it.
	rec, _, _ = f.reg.Get("h1", "app")
	if err := MarkConfigRunning(f.reg, "h1", "app", rec.Config.Applied); err != nil {
		t.Fatal(err)
	}
	if rec, _, _ := f.reg.Get("h1", "app"); rec.Config.Pending || rec.Config.RunningWith != rec.Config.Applied {
		t.Fatalf("after MarkConfigRunning: %+v", rec.Config)
	}
	// A lock another run holds refuses it.
	unlock, err := f.reg.Lock(ctx, []string{registry.LockKey("h1", "app")}, registry.Owner{Operator: "x@y"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	req.LockTimeout = 20 * time.Millisecond
	var locked *registry.LockedError
	if _, err := RollbackConfig(ctx, f.reg, req, renv()); !errors.As(err, &locked) {
		t.Fatalf("rollback under a lock: %v", err)
	}
}
