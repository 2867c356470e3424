package transport

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/omni-fleet/omni/internal/testkit/proctest"
)

// These run killTreeScript on this machine, as the killer's session would
// on a host: with `sh` and `ps` as the host has them (a directory first
// in PATH), against a tree like the connection's shell running a command.

// binDir makes a directory holding links name -> target.
func binDir(t *testing.T, links map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, target := range links {
		if err := os.Symlink(target, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// runKillerLocally runs the kill-tree of pid with PATH=path, and waits for
// it (10 s at most).
func runKillerLocally(t *testing.T, path string, pid int) {
	t.Helper()
	runKiller(t, path, pid, false)
}

// runKiller is runKillerLocally, the walk under sudo -n first when sudo.
func runKiller(t *testing.T, path string, pid int, sudo bool) {
	t.Helper()
	cmd := exec.Command(filepath.Join(strings.Split(path, ":")[0], "sh"), "-c", killTreeScript(pid, sudo))
	cmd.Env = []string{"PATH=" + path}
	out, _ := cmd.CombinedOutput()
	if len(out) > 0 {
		t.Logf("killer said: %q", out)
	}
}

// startTree starts a "connection shell" running a command with children
// and grandchildren, one of them in a session of its own; tag makes the
// sleeps' arguments unique to the test.
func startTree(t *testing.T, tag string) (*exec.Cmd, []string) {
	t.Helper()
	args := []string{"41." + tag + "1", "41." + tag + "2", "41." + tag + "3", "41." + tag + "4"}
	script := "(exec sh -c 'sleep " + args[0] + " & sh -c \"sleep " + args[1] + " & sleep " + args[2] + "\" & setsid sleep " + args[3] + " & wait'); sleep 1000"
	sh := exec.Command("/bin/sh", "-c", script)
	sh.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := sh.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, a := range args {
			for _, p := range proctest.WithArgs("sleep", a) {
				syscall.Kill(p, syscall.SIGKILL)
			}
		}
		sh.Process.Kill()
		sh.Wait()
	})
	deadline := time.Now().Add(5 * time.Second)
	for _, a := range args {
		for len(proctest.WithArgs("sleep", a)) == 0 {
			if time.Now().After(deadline) {
				t.Fatalf("sleep %s did not start", a)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return sh, args
}

func checkKillTree(t *testing.T, tag string, links map[string]string, extraPath string) {
	checkKillTreeAs(t, tag, links, extraPath, false)
}

func checkKillTreeAs(t *testing.T, tag string, links map[string]string, extraPath string, sudo bool) {
	bin := binDir(t, links)
	path := bin
	if extraPath != "" {
		path += ":" + extraPath
	}
	// an unrelated process, in no way below the shell
	other := exec.Command("sleep", "41."+tag+"9")
	if err := other.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { other.Process.Kill(); other.Wait() })

	sh, args := startTree(t, tag)
	runKiller(t, path, sh.Process.Pid, sudo)
	time.Sleep(100 * time.Millisecond)
	var left []string
	for _, a := range args {
		if len(proctest.WithArgs("sleep", a)) > 0 {
			left = append(left, "sleep "+a)
		}
	}
	if len(left) > 0 {
		t.Errorf("still running after the kill-tree: %s", strings.Join(left, ", "))
	}
	if !proctest.Alive(other.Process.Pid) {
		t.Errorf("an unrelated process (pid %d) was killed", other.Process.Pid)
	}
	// the tree's processes must not be left stopped either
	for _, a := range args {
		for _, p := range proctest.WithArgs("sleep", a) {
			b, _ := os.ReadFile("/proc/" + strconv.Itoa(p) + "/stat")
			t.Logf("sleep %s: %s", a, b)
		}
	}
}

func TestKillTreeDashProcps(t *testing.T) {
	checkKillTree(t, "11", map[string]string{"sh": "/usr/bin/dash", "ps": "/usr/bin/ps"}, "")
}

func TestKillTreeDashNoPS(t *testing.T) {
	checkKillTree(t, "12", map[string]string{"sh": "/usr/bin/dash"}, "")
}

func TestKillTreeBashProcps(t *testing.T) {
	checkKillTree(t, "13", map[string]string{"sh": "/usr/bin/bash", "ps": "/usr/bin/ps"}, "")
}

func TestKillTreeBashNoPS(t *testing.T) {
	checkKillTree(t, "14", map[string]string{"sh": "/usr/bin/bash"}, "")
}

func TestKillTreeBusybox(t *testing.T) {
	checkKillTree(t, "15", map[string]string{"sh": "/usr/bin/busybox", "ps": "/usr/bin/busybox"}, "")
}

func TestKillTreeBusyboxNoPS(t *testing.T) {
	checkKillTree(t, "16", map[string]string{"sh": "/usr/bin/busybox"}, "")
}

// A command under sudo: the walk runs under sudo -n (root sees what
// hidepid=2 hides from the login user), here as root itself.
func TestKillTreeUnderSudo(t *testing.T) {
	sudo, err := exec.LookPath("sudo")
	if err != nil {
		t.Fatal("sudo is not installed: run scripts/install-test-deps.sh")
	}
	checkKillTreeAs(t, "17", map[string]string{"sh": "/usr/bin/dash", "ps": "/usr/bin/ps", "sudo": sudo}, "", true)
}
