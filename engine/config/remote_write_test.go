package config_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/omni-fleet/omni/engine/config"
	"github.com/omni-fleet/omni/engine/manager"
)

func apply(t *testing.T, r manager.Runner, files []config.File, opts config.ApplyOptions) config.ApplyResult {
	t.Helper()
	live, err := config.ReadLive(testCtx(t), r, false, files, false)
	if err != nil {
		t.Fatal(err)
	}
	res, err := config.Apply(testCtx(t), r, false, files, live, opts)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func TestApplyWritesKeepsAttributesAndLeavesEqualFilesUntouched(t *testing.T) {
	base := newRunner(t, "127.0.18.3")
	for _, mode := range []struct {
		name string
		r    manager.Runner
	}{{"stdin", base}, {"inline", runOnly{base}}} {
		t.Run(mode.name, func(t *testing.T) {
			dir := t.TempDir()
			fresh := filepath.Join(dir, "new dir", "sub", "app's.conf")
			old := filepath.Join(dir, "old.conf")
			os.WriteFile(old, []byte("old\n"), 0o640)
			os.Chown(old, 65534, 65534) // nobody:nogroup, kept when not declared
			files := []config.File{{Path: fresh, Content: []byte("a=1\n")}, {Path: old, Content: []byte("new\n")}}

			before := base.calls()
			res := apply(t, mode.r, files, config.ApplyOptions{})
			if n := base.calls() - before; n != 2 {
				t.Fatalf("read + apply ran %d commands, want 2", n)
			}
			for i, fr := range res.Files {
				if fr.Action != config.Written || fr.NewHash != files[i].Hash() {
					t.Errorf("%s: %+v", fr.Path, fr)
				}
			}
			if res.Files[0].OldHash != "" || res.Files[1].OldHash != config.HashBytes([]byte("old\n")) {
				t.Errorf("old hashes: %+v", res.Files)
			}
			got, _ := os.ReadFile(fresh)
			fi, _ := os.Stat(fresh)
			di, _ := os.Stat(filepath.Dir(fresh))
			ui, _ := os.Stat(filepath.Join(dir, "new dir"))
			if string(got) != "a=1\n" || fi.Mode().Perm() != config.DefaultMode || di.Mode().Perm() != 0o755 || ui.Mode().Perm() != 0o755 {
				t.Errorf("new file %q %v, dirs %v %v", got, fi.Mode(), di.Mode(), ui.Mode())
			}
			got, _ = os.ReadFile(old)
			fi, _ = os.Stat(old)
			st := fi.Sys().(*syscall.Stat_t)
			if string(got) != "new\n" || fi.Mode().Perm() != 0o640 || st.Uid != 65534 || st.Gid != 65534 {
				t.Errorf("rewritten file %q %v uid %d gid %d: want its mode and owner kept", got, fi.Mode(), st.Uid, st.Gid)
			}

			// Again: nothing to do, nothing run, nothing touched.
			ino1, m1 := inode(t, fresh)
			ino2, m2 := inode(t, old)
			before = base.calls()
			res = apply(t, mode.r, files, config.ApplyOptions{})
			if n := base.calls() - before; n != 1 {
				t.Errorf("an unchanged apply ran %d commands, want 1 (the read)", n)
			}
			for _, fr := range res.Files {
				if fr.Action != config.Unchanged {
					t.Errorf("%s: %s, want unchanged", fr.Path, fr.Action)
				}
			}
			if i, m := inode(t, fresh); i != ino1 || !m.Equal(m1) {
				t.Error("unchanged file touched")
			}
			if i, m := inode(t, old); i != ino2 || !m.Equal(m2) {
				t.Error("unchanged file touched")
			}

			// Declared attributes drift: fixed in place, not rewritten.
			files[1].Mode, files[1].Owner, files[1].Group = 0o600, "root", "root"
			res = apply(t, mode.r, files, config.ApplyOptions{})
			if res.Files[1].Action != config.AttrsFixed || res.Files[0].Action != config.Unchanged {
				t.Errorf("attrs: %+v", res.Files)
			}
			fi, _ = os.Stat(old)
			st = fi.Sys().(*syscall.Stat_t)
			if i, m := inode(t, old); i != ino2 || !m.Equal(m2) || fi.Mode().Perm() != 0o600 || st.Uid != 0 || st.Gid != 0 {
				t.Errorf("attrs fixed: mode %v uid %d, same inode/mtime %v", fi.Mode(), st.Uid, i == ino2 && m.Equal(m2))
			}
			if len(temps(t, dir)) != 0 || len(temps(t, filepath.Dir(fresh))) != 0 {
				t.Error("temporary files left")
			}
		})
	}
}

func TestApplyReadersNeverSeeAPartialFile(t *testing.T) {
	r := newRunner(t, "127.0.18.4")
	dir := t.TempDir()
	p := filepath.Join(dir, "big.conf")
	a := bytes.Repeat([]byte("A"), 256<<10)
	b := bytes.Repeat([]byte("B"), 256<<10-7)
	os.WriteFile(p, a, 0o644)

	var stop atomic.Bool
	var reads, bad atomic.Int64
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				got, err := os.ReadFile(p)
				reads.Add(1)
				if err != nil || !(bytes.Equal(got, a) || bytes.Equal(got, b)) {
					bad.Add(1)
				}
			}
		}()
	}
	const applies = 20
	for i := range applies {
		content := a
		if i%2 == 0 {
			content = b
		}
		res := apply(t, r, []config.File{{Path: p, Content: content}}, config.ApplyOptions{})
		if res.Files[0].Action != config.Written {
			t.Fatalf("apply %d: %+v", i, res.Files[0])
		}
	}
	stop.Store(true)
	wg.Wait()
	t.Logf("%d applies, %d reads", applies, reads.Load())
	if bad.Load() != 0 {
		t.Fatalf("%d of %d reads saw neither the old nor the new content", bad.Load(), reads.Load())
	}
}

func TestApplyFailingValidatorChangesNothing(t *testing.T) {
	r := newRunner(t, "127.0.18.5")
	dir := t.TempDir()
	good := filepath.Join(dir, "good.conf")
	checked := filepath.Join(dir, "checked.conf")
	secret := filepath.Join(dir, "secret.conf")
	for _, p := range []string{good, checked, secret} {
		os.WriteFile(p, []byte("old\n"), 0o644)
	}
	ino, mtime := inode(t, checked)
	files := []config.File{
		{Path: good, Content: []byte("fine\n"), Validate: "test -s %s"},
		{Path: checked, Content: []byte("bad\x1b[31m\n"), Validate: `cat %s; echo "syntax error at line 1" >&2; exit 3`},
		{Path: secret, Content: []byte("TOKEN=s3cr3t-value\n"), Secret: true, Validate: "cat %s; exit 4"},
	}
	live := readLive(t, r, files)
	before := r.calls()
	_, err := config.Apply(testCtx(t), r, false, files, live, config.ApplyOptions{})
	if r.calls()-before != 1 {
		t.Errorf("apply ran %d commands, want 1", r.calls()-before)
	}
	if err == nil {
		t.Fatal("a failing validator: no error")
	}
	msg := err.Error()
	t.Log(msg)
	for _, want := range []string{checked, "exit 3", "syntax error at line 1", "bad?[31m", secret, "exit 4", "output withheld"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error lacks %q", want)
		}
	}
	if strings.Contains(msg, "s3cr3t") || strings.Contains(msg, "\x1b") {
		t.Error("the error carries a secret or a control character")
	}
	for _, p := range []string{good, checked, secret} {
		if got, _ := os.ReadFile(p); string(got) != "old\n" {
			t.Errorf("%s changed to %q", p, got)
		}
	}
	if i, m := inode(t, checked); i != ino || !m.Equal(mtime) {
		t.Error("the file was replaced")
	}
	if left := temps(t, dir); len(left) != 0 {
		t.Errorf("temporary files left: %q", left)
	}
}

func TestApplySecretNeverInResultErrorOrArgv(t *testing.T) {
	r := newRunner(t, "127.0.18.6")
	dir := t.TempDir()
	p := filepath.Join(dir, "db.env")
	f := config.File{Path: p, Content: []byte("DB_PASSWORD=hunter2-secret\n"), SecretKeys: []string{"DB_PASSWORD"}}
	res := apply(t, r, []config.File{f}, config.ApplyOptions{})
	fi, _ := os.Stat(p)
	if res.Files[0].Action != config.Written || fi.Mode().Perm() != config.SecretMode {
		t.Fatalf("%+v %v", res.Files[0], fi.Mode())
	}
	all := strings.Join(r.cmds, "\n")
	for _, s := range []string{"hunter2", "SFVOVEVS", "REJfUEFTU1dPUkQ9aHVudGVyMi1zZWNyZXQK"} {
		if strings.Contains(all, s) || strings.Contains(strings.Join([]string{res.Files[0].Path, res.Files[0].OldHash, res.Files[0].NewHash}, " "), s) {
			t.Errorf("secret (or its base64) in a command or the result: %q", s)
		}
	}
}

func TestApplyTimeoutKillsHungValidatorAndChangesNothing(t *testing.T) {
	r := newRunner(t, "127.0.18.7")
	dir := t.TempDir()
	p := filepath.Join(dir, "slow.conf")
	os.WriteFile(p, []byte("old\n"), 0o644)
	files := []config.File{{Path: p, Content: []byte("new\n"), Validate: "sleep 7919 # %s"}}
	live := readLive(t, r, files)
	began := time.Now()
	_, err := config.Apply(testCtx(t), r, false, files, live, config.ApplyOptions{Timeout: 2 * time.Second})
	if err == nil || !strings.Contains(err.Error(), "timed out after 2s") || time.Since(began) > 15*time.Second {
		t.Fatalf("error %v after %s", err, time.Since(began))
	}
	if got, _ := os.ReadFile(p); string(got) != "old\n" {
		t.Errorf("file changed: %q", got)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		out, _ := exec.Command("pgrep", "-f", "sleep 7919").Output()
		if len(bytes.TrimSpace(out)) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the validator still runs: %s", out)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// The temporary file the kill left behind is no target, and the next
	// apply removes it.
	if len(temps(t, dir)) == 0 {
		t.Log("no temporary file left by the kill")
	}
	files[0].Validate = ""
	apply(t, r, files, config.ApplyOptions{})
	if got, _ := os.ReadFile(p); string(got) != "new\n" || len(temps(t, dir)) != 0 {
		t.Errorf("next apply: %q, temps %q", got, temps(t, dir))
	}
}

func TestApplyDaemonReloadRunsInTheSameCommand(t *testing.T) {
	r := newRunner(t, "127.0.18.8")
	dir := t.TempDir()
	bin := filepath.Join(dir, "bin")
	os.Mkdir(bin, 0o755)
	log := filepath.Join(dir, "systemctl.log")
	os.WriteFile(filepath.Join(bin, "systemctl"), []byte("#!/bin/sh\necho \"$@\" >> '"+log+"'\n"), 0o755)
	dropin := filepath.Join(dir, "svc.service.d", "50-omni.conf")
	files := []config.File{{Path: dropin, Content: []byte("[Service]\nEnvironment=A=1\n"), DaemonReload: true}}
	pathed := pathRunner{r: r, path: bin}

	live := readLive(t, pathed, files)
	res, err := config.Apply(testCtx(t), pathed, false, files, live, config.ApplyOptions{})
	if err != nil || res.DaemonReloaded {
		t.Fatalf("without the option: %v %+v", err, res)
	}
	if _, err := os.Stat(log); err == nil {
		t.Fatal("daemon-reload ran without the option")
	}
	files[0].Content = []byte("[Service]\nEnvironment=A=2\n")
	before := r.calls()
	res, err = config.Apply(testCtx(t), pathed, false, files, live, config.ApplyOptions{DaemonReload: true})
	if err != nil || !res.DaemonReloaded || r.calls()-before != 1 {
		t.Fatalf("%v %+v, %d commands", err, res, r.calls()-before)
	}
	if got, _ := os.ReadFile(log); string(got) != "daemon-reload\n" {
		t.Errorf("systemctl ran with %q", got)
	}
}

// pathRunner puts dir first on PATH for every command.
type pathRunner struct {
	r    *sshRunner
	path string
}

func (p pathRunner) Run(ctx context.Context, cmd string) (manager.Result, error) {
	return p.r.Run(ctx, "PATH="+p.path+":$PATH; export PATH; "+cmd)
}

func (p pathRunner) RunInput(ctx context.Context, cmd string, stdin []byte) (manager.Result, error) {
	return p.r.RunInput(ctx, "PATH="+p.path+":$PATH; export PATH; "+cmd, stdin)
}
