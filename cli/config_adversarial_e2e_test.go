package cli

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/omni-fleet/omni/internal/testkit/testfleet"
)

// TestConfigApplySymlinksLockAndInterrupt: a symbolic link at a managed
// path is replaced by the file (what it pointed to is left alone); a link
// at its parent directory is followed (the file goes into the directory it
// names). A second apply while one holds the lock is refused (exit 5,
// naming the holder), and an apply interrupted in phase 1 (while its
// validator runs) exits 130 with every file old and whole; the next apply
// writes them.
func TestConfigApplySymlinksLockAndInterrupt(t *testing.T) {
	dir := t.TempDir()
	for _, d := range []string{"env", "src", "realetc"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	envFile := filepath.Join(dir, "env", "app.env")
	other := filepath.Join(dir, "other.env")
	writeFile(t, other, "X=1\n")
	if err := os.Symlink(other, envFile); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(dir, "realetc"), filepath.Join(dir, "etc")); err != nil {
		t.Fatal(err)
	}
	src, conf := filepath.Join(dir, "src", "app.conf"), filepath.Join(dir, "etc", "app.conf")
	writeFile(t, src, "level = 1\n")
	slow, mark := filepath.Join(dir, "slow"), filepath.Join(dir, "mark")
	keys := "env: {GREETING: hello}\n    env_file: " + envFile + "\n" +
		"    files:\n" +
		"      - path: " + conf + "\n" +
		"        source: " + src + "\n" +
		"        validate: 'if [ -e " + slow + " ]; then touch " + mark + "; sleep 2; fi; grep -q level %s'"
	f := testfleet.Start(t, testfleet.Options{BastionAddr: "127.0.181.5", WorkerAddr: "127.0.181.6",
		Extra: []testfleet.Service{{Name: "app", Role: "worker", Keys: keys}}})

	mustRun(t, f, "config", "apply", "worker1", "app")
	if fi, err := os.Lstat(envFile); err != nil || !fi.Mode().IsRegular() || !strings.Contains(readFile(t, envFile), `GREETING="hello"`) {
		t.Fatalf("the link at the env file's path: %v, %v; want a regular file with the declared content", fi, err)
	}
	if readFile(t, other) != "X=1\n" {
		t.Fatal("apply wrote through the link at the file's path")
	}
	if fi, err := os.Lstat(filepath.Join(dir, "etc")); err != nil || fi.Mode()&os.ModeSymlink == 0 || readFile(t, filepath.Join(dir, "realetc", "app.conf")) != "level = 1\n" {
		t.Fatalf("the linked parent directory: %v, %v; want it kept, the file in the directory it names", fi, err)
	}

	// Apply A takes the lock and waits in its validator; B is refused.
	writeFile(t, src, "level = 2\n")
	writeFile(t, slow, "")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan int, 1)
	aOut := &cancelOn{marker: "\x00never", cancel: func() {}}
	go func() {
		done <- Run(ctx, []string{"-i", f.Inventory, "config", "apply", "worker1", "app"}, Streams{In: strings.NewReader(""), Out: aOut, Err: aOut, NoColor: true})
	}()
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, err := os.Stat(mark); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("apply A did not reach its validator:\n%s", aOut.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	out, errOut, code := omni(t, f, "config", "apply", "worker1", "app")
	if code != ExitRefused || !strings.Contains(errOut, "worker1/app is locked by ") || !strings.Contains(errOut, "config apply worker1 app") {
		t.Fatalf("a second apply while A holds the lock: exit %d, want 5 naming A\n%s%s", code, out, errOut)
	}
	// Ctrl-C while A validates: nothing half-written.
	cancel()
	select {
	case code = <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("apply A did not end after its interruption")
	}
	if code != ExitInterrupted {
		t.Fatalf("interrupted apply: exit %d, want 130\n%s", code, aOut.String())
	}
	// Past the validator's 2 s: had the host not killed the command, its
	// rename would have happened by now.
	time.Sleep(2500 * time.Millisecond)
	if got := readFile(t, conf); got != "level = 1\n" {
		t.Fatalf("after the interruption the file is %q, want the old one whole", got)
	}
	os.Remove(slow)
	mustRun(t, f, "config", "apply", "worker1", "app")
	if got := readFile(t, conf); got != "level = 2\n" {
		t.Fatalf("the apply after the interruption: %q", got)
	}
	if m, _ := filepath.Glob(filepath.Join(dir, "realetc", ".*omni-*")); len(m) != 0 {
		t.Fatalf("temporary files left after the next apply: %v", m)
	}
}

// TestConfigApplyOneHostUnreachable: an apply over two hosts, one down:
// the other is written, the table names the one that is not, exit 3.
func TestConfigApplyOneHostUnreachable(t *testing.T) {
	f, dir := configFleet(t, "127.0.181.7", "127.0.181.8")
	f.Worker.Stop()
	out, errOut, code := omni(t, f, "config", "apply", "all", "cfgsvc")
	if code != ExitPartial {
		t.Fatalf("apply with worker1 down: exit %d, want 3\n%s%s", code, out, errOut)
	}
	if !strings.Contains(out, "failed: nothing written") || !strings.Contains(errOut, "worker1") || !strings.Contains(out, "3 written") {
		t.Fatalf("the table does not say which host was written and which not:\n%s%s", out, errOut)
	}
	if !strings.Contains(readFile(t, filepath.Join(dir, "h", "app.conf")), "workers 4") {
		t.Fatal("the reachable host's file was not written")
	}
	noSecrets(t, dir, out, errOut)
}
